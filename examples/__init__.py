"""Examples for the case system's side of lookout (README "Signed webhooks")."""
