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
# Late submissions: nbgrader compares each submission's timestamp.txt with the
# due date that `reglab publish` writes into the gradebook from course.yml, and
# `nbgrader autograde` takes the penalty from this plugin: 2% of the earned
# score per started hour after a 15-minute grace period, at most 50%.
c.AssignLatePenalties.plugin_class = "reglab.calendar.SubtractPerHour"
c.SubtractPerHour.grace_minutes = 15
c.SubtractPerHour.percent_per_hour = 2
c.SubtractPerHour.max_percent = 50
