"""Use cases of the add-in: plain functions that take their collaborators as arguments and never import Flask."""
