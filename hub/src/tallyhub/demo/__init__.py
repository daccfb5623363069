"""`tallyhub demo`: a hub, a demo team/user/app, an instrumented Flask API and traffic, in one command."""
