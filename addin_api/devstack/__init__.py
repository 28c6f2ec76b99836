"""The local stack: an emulated Dataverse Web API and a dev identity provider shaped like Entra ID.

Not product code. It is the embedded default for `make dev` and the real servers the tests talk to; product
modules never import it and reach it only through configured URLs.
"""
