"""Twilio's webhooks: delivery status callbacks, inbound SMS and the voice call's keypad."""
