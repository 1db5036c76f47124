import router


def test_all_public_names_are_exported() -> None:
    exported = set(router.__all__)
    public = {name for name in vars(router) if not name.startswith("_")}
    modules = {"calls", "catalog", "client", "config", "decision", "deployments", "errors",
               "messages", "money", "pricing", "providers", "strategies", "streaming", "tokens",
               "types", "mock", "testing", "ledger", "budgets", "budget_routing", "quality", "resilience", "breaker", "cli",
               "observability", "settings", "lifecycle", "extras", "schema", "demo"}
    modules |= {"options", "reasons", "redaction", "config_files"}
    assert public - modules - exported == set()
    for name in exported - {"__version__"}:
        assert hasattr(router, name), name


def test_the_contract_names_exist() -> None:
    from router import BudgetExceeded, ConfigError, NoRouteError, ProviderError, Router, RouterError

    assert issubclass(BudgetExceeded, NoRouteError)
    for cls in (BudgetExceeded, ConfigError, NoRouteError, ProviderError):
        assert issubclass(cls, RouterError)
    assert callable(Router.from_config)
