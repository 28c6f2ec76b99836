"""Dev identity provider routes (placeholder)."""

from flask import Blueprint

bp = Blueprint("devstack_identity", __name__)
