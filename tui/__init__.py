"""EdgeFleet operator dashboard (Textual)."""
