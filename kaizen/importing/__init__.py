"""Importing the logs an app already has: each record becomes the response and feedback events live traffic makes."""
