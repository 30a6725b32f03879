# nbgrader's own configuration for this course directory: `nbgrader
# generate_assignment`, `autograde`, `formgrader` read it. Lab ids and dates
# live in course.yml; reglab passes them to nbgrader.
c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.course_id = "dl-lecture-06"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
# Student code must fail loudly while blank; the self-check cells stay visible.
c.Execute.timeout = 120
