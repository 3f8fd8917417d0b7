"""The portal's views, one module per family of pages."""
