"""Imports every built-in detector backend so that it registers itself."""
