"""Reference solutions: one module per lab, the single truth for every solution cell.

The build step (`reglab build`) copies each function named by a notebook's
solution cell from here into the nbgrader source notebook, between
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers. Keep each function
self-contained (imports at module level, no private helpers): its body is
exactly what a student will be asked to write.
"""
