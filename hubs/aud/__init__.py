"""aud-hub: the independent audit (VSM System 3*): checks of the other hubs, and the findings they raise."""
