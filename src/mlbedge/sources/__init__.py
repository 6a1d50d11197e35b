"""Where data comes from: live source clients and historical file loaders. No source knows another."""
