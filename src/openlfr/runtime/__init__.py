"""Running pipelines: camera workers, bounded drop-oldest queues, reconnects, (later) Ray."""
