from __future__ import annotations

from tests.conftest import Api


class TestShow:
    def test_shape(self, api: Api) -> None:
        response = api.get("/organizations")
        assert response.status_code == 200
        organization = response.json()["organization"]
        assert organization["name"] == "Acme"
        assert organization["lago_id"] == str(api.organization.id)
        assert organization["default_currency"] == "USD"
        assert organization["timezone"] == "UTC"
        assert organization["document_numbering"] == "per_customer"
        assert organization["document_number_prefix"] == f"ACM-{api.organization.id.hex[-4:].upper()}"
        assert organization["billing_configuration"] == {
            "invoice_footer": None,
            "invoice_grace_period": 0,
            "document_locale": "en",
            "bill_backdated_periods": False,
        }
        assert organization["created_at"].endswith("Z")


class TestUpdate:
    def test_updates_fields(self, api: Api) -> None:
        response = api.put(
            "/organizations",
            json={
                "organization": {
                    "timezone": "Europe/Paris",
                    "default_currency": "EUR",
                    "country": "fr",
                    "net_payment_term": 30,
                    "document_numbering": "per_organization",
                    "email_settings": ["invoice.finalized"],
                    "billing_configuration": {"invoice_grace_period": 3, "invoice_footer": "Merci"},
                }
            },
        )
        assert response.status_code == 200, response.text
        organization = response.json()["organization"]
        assert organization["timezone"] == "Europe/Paris"
        assert organization["default_currency"] == "EUR"
        assert organization["country"] == "FR"
        assert organization["net_payment_term"] == 30
        assert organization["document_numbering"] == "per_organization"
        assert organization["billing_configuration"]["invoice_grace_period"] == 3
        assert organization["billing_configuration"]["invoice_footer"] == "Merci"
        # Fields not sent stay as they were.
        assert organization["billing_configuration"]["document_locale"] == "en"
        assert api.get("/organizations").json()["organization"]["timezone"] == "Europe/Paris"

    def test_invalid_values_change_nothing(self, api: Api) -> None:
        response = api.put(
            "/organizations",
            json={
                "organization": {
                    "timezone": "Mars/Olympus",
                    "default_currency": "XXXX",
                    "net_payment_term": 5,
                }
            },
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {
            "default_currency": ["value_is_invalid"],
            "timezone": ["invalid_timezone"],
        }
        assert api.get("/organizations").json()["organization"]["net_payment_term"] == 0

    def test_enum_and_range(self, api: Api) -> None:
        response = api.put(
            "/organizations",
            json={"organization": {"document_numbering": "sometimes", "net_payment_term": -1}},
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {
            "document_numbering": ["value_is_invalid"],
            "net_payment_term": ["value_is_out_of_range"],
        }

    def test_missing_root(self, api: Api) -> None:
        assert api.put("/organizations", json={"timezone": "UTC"}).status_code == 400

    def test_only_own_organization(self, api: Api, other_api: Api) -> None:
        api.put("/organizations", json={"organization": {"timezone": "Asia/Tokyo"}})
        assert other_api.get("/organizations").json()["organization"]["timezone"] == "UTC"
        assert other_api.get("/organizations").json()["organization"]["name"] == "Globex"


class TestWebhookUrl:
    def test_webhook_url_becomes_an_endpoint(self, api: Api) -> None:
        response = api.put(
            "/organizations", json={"organization": {"webhook_url": "https://hooks.example.com/lago"}}
        )
        assert response.status_code == 200, response.text
        assert response.json()["organization"]["webhook_urls"] == ["https://hooks.example.com/lago"]
        endpoints = api.get("/webhook_endpoints").json()["webhook_endpoints"]
        assert [e["webhook_url"] for e in endpoints] == ["https://hooks.example.com/lago"]
        # Sending it again does not duplicate it.
        api.put("/organizations", json={"organization": {"webhook_url": "https://hooks.example.com/lago"}})
        assert len(api.get("/webhook_endpoints").json()["webhook_endpoints"]) == 1

    def test_invalid_webhook_url_changes_nothing(self, api: Api) -> None:
        response = api.put(
            "/organizations", json={"organization": {"webhook_url": "not a url", "timezone": "Asia/Tokyo"}}
        )
        assert response.status_code == 422
        assert response.json()["error_details"] == {"webhook_url": ["url_is_invalid"]}
        organization = api.get("/organizations").json()["organization"]
        assert organization["timezone"] == "UTC"
        assert organization["webhook_url"] is None


class TestBillBackdatedPeriods:
    """Billow extension: ``billing_configuration.bill_backdated_periods`` (off by default, as Lago)."""

    @staticmethod
    def _setting(api: Api) -> object:
        return api.get("/organizations").json()["organization"]["billing_configuration"][
            "bill_backdated_periods"
        ]

    def test_set_and_cleared_per_organization(self, api: Api, other_api: Api) -> None:
        body = {"organization": {"billing_configuration": {"bill_backdated_periods": True}}}
        response = api.put("/organizations", json=body)
        assert response.status_code == 200, response.text
        configuration = response.json()["organization"]["billing_configuration"]
        assert configuration["bill_backdated_periods"] is True
        assert configuration["invoice_grace_period"] == 0  # the rest unchanged
        assert self._setting(api) is True
        assert self._setting(other_api) is False
        body = {"organization": {"billing_configuration": {"bill_backdated_periods": False}}}
        assert api.put("/organizations", json=body).status_code == 200
        assert self._setting(api) is False

    def test_server_default_until_the_organization_chooses(
        self, api: Api, bill_backdated_periods: None
    ) -> None:
        assert self._setting(api) is True  # BILLOW_BILL_BACKDATED_PERIODS=true
        body = {"organization": {"billing_configuration": {"bill_backdated_periods": False}}}
        assert api.put("/organizations", json=body).status_code == 200
        assert self._setting(api) is False

    def test_invalid_value_changes_nothing(self, api: Api) -> None:
        body = {
            "organization": {
                "timezone": "Asia/Tokyo",
                "billing_configuration": {"bill_backdated_periods": []},
            }
        }
        response = api.put("/organizations", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["error_details"] == {"billing_configuration": ["value_is_invalid"]}
        assert self._setting(api) is False
        assert api.get("/organizations").json()["organization"]["timezone"] == "UTC"
