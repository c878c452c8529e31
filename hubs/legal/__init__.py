"""legal-hub: DSGVO/GDPR and the AI Act — the vendor register (TPSC), records of processing (Art. 30), the AI
systems register, and a GDPR report that finds its own gaps."""
