"""Nothing stranded: the scheduled reconciler repairs what the streams' deliveries gave up on."""
