"""Reusable pieces shared by pages."""
