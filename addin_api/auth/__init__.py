"""Authentication: validate the add-in's bearer token and exchange it on-behalf-of the user for Dataverse."""
