"""Course tooling for the Lecture 6 labs: configuration, build, release, command line."""
