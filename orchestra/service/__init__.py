"""Where checkpoints go: the real Lambda service (boto3) or the local emulator."""
