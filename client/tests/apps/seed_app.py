"""The Flask setup guide's three snippets (flask-setup-guide.txt), as a user would paste them.

The guide's page lost some text when it was saved; it is completed here as the issue states the
API: the first snippet's `app` and `client_id=` arguments and closing bracket, the last snippet's
`group=` and closing bracket, and the e-mail address that the page's e-mail protection replaced.
The guide says to run identify_consumer "for example in a before_request function": the first
version runs for every request, the named-and-grouped version for the `/named` blueprint.

The hub is the one in APITALLY_HUB_BASE_URL. Run it with any WSGI server (`seed_app:app`), or
load it by path in a test.
"""

import os

from flask import Blueprint

# The app's client ID as the hub knows it (a test against Tallyhub passes the one it created).
CLIENT_ID = os.environ.get("SEED_CLIENT_ID", "8f1e6b52-1c0c-4a8e-9a5e-2f7f0c9d3a11")

# --- snippet 1: Add middleware ------------------------------------------------------------------
from flask import Flask
from apitally.flask import ApitallyMiddleware

app = Flask(__name__)
app.wsgi_app = ApitallyMiddleware(
    app,
    client_id=CLIENT_ID,
    env="dev",  # or "prod" etc.
)

# --- snippet 2: Identify consumers --------------------------------------------------------------
from flask import g, request

def identify_consumer():
    """Identify consumer based on their IP address."""
    g.apitally_consumer = request.remote_addr

app.before_request(identify_consumer)

# --- snippet 3: Name and group consumers --------------------------------------------------------
from flask import g, request
from apitally.flask import ApitallyConsumer

def identify_consumer():
    g.apitally_consumer = ApitallyConsumer(
      identifier="john.doe@example.com",
      name="John Doe",
      group="Customers",
    )

named = Blueprint("named", __name__, url_prefix="/named")
named.before_request(identify_consumer)


# --- the app's own routes -------------------------------------------------------------------------
@app.get("/items/<int:item_id>")
def get_item(item_id: int) -> dict:
    return {"id": item_id, "name": "widget"}


@app.post("/items")
def create_item() -> tuple[dict, int]:
    return {"created": request.get_json(silent=True)}, 201


@app.get("/boom")
def boom() -> dict:
    raise ValueError("kaboom")


@named.get("/profile")
def profile() -> dict:
    return {"name": "John Doe"}


app.register_blueprint(named)
