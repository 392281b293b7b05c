"""The trusting side: what makes a downstream cluster, ArgoCD, Vault or kubectl accept the injected tokens."""
