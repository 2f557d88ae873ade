"""Examples for the case system's side of lookout (docs/DELIVERY.md "Signed webhooks")."""
