import router


def test_all_public_names_are_exported() -> None:
    exported = set(router.__all__)
    public = {name for name in vars(router) if not name.startswith("_")}
    modules = {"calls", "catalog", "client", "config", "decision", "deployments", "errors",
               "messages", "money", "pricing", "providers", "strategies", "streaming", "tokens",
               "types", "mock", "testing", "ledger", "budgets", "budget_routing", "quality", "resilience", "breaker", "cli",
               "observability", "settings", "lifecycle", "extras", "schema", "demo"}
    modules |= {"options", "reasons", "redaction", "config_files", "candidates", "structured",
                "actions"}
    assert public - modules - exported == set()
    for name in exported - {"__version__"}:
        assert hasattr(router, name), name


def test_the_contract_names_exist() -> None:
    from router import BudgetExceeded, ConfigError, NoRouteError, ProviderError, Router, RouterError

    assert issubclass(BudgetExceeded, NoRouteError)
    for cls in (BudgetExceeded, ConfigError, NoRouteError, ProviderError):
        assert issubclass(cls, RouterError)
    assert callable(Router.from_config)


def test_every_error_class_is_exported_at_the_top_level() -> None:
    import inspect

    import router.errors

    errors = {name for name, value in vars(router.errors).items()
              if inspect.isclass(value) and issubclass(value, router.RouterError)}
    assert errors == set(router.errors.__all__)  # the error module lists all of its errors
    assert errors - set(router.__all__) == set()  # and `from router import X` works for each
    for name in errors:
        assert getattr(router, name) is getattr(router.errors, name)
