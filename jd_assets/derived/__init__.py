"""What the derived layers (clean, marts) share: the rebuild transaction, column declarations, the generic
check rules and the automation that keeps them following raw."""
