"""The web layer: Dash pages, components, figures, login and the REST API."""
