"""addin-api: the backend of an Outlook add-in that tracks emails and appointments into Microsoft Dataverse."""
