"""`mapper web`: a local page (Starlette on 127.0.0.1, a token per launch) that builds `mapper`
command lines from the same option table as the CLI, runs them as child processes and shows
their progress, files and a picture of the result."""
