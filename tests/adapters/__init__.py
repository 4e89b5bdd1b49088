"""Each platform's adapter through its real client library against its loopback fake."""
