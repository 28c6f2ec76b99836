"""Use cases of the add-in: plain functions that take their collaborators as arguments and never import Flask.

`Dataverse` is the port every service takes its Dataverse client through; the HTTP edge and the worker hand one
along without knowing the client behind it.
"""

from addin_api.dataverse.port import Dataverse

__all__ = ["Dataverse"]
