"""The MCP server: every hub's contract operation as a tool, each call decided by canon-hub's mandates (who may
call what) and sent to the hub as the verified caller; and the stdio bridge to it."""
