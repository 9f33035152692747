"""Tools an operator runs: store backup and restore, and pointing a Twilio number here."""
