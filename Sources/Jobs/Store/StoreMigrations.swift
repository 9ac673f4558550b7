/// The store's schema, in order. Table names are a contract (see `docs/data-model.md`); later migrations add.
///
/// Every row of tenant data carries `tenant_id`, and every query of ``PlaidStore`` is scoped by it.
public enum StoreMigrations {
    public static let all: [Migration] = [
        Migration(
            version: 1, name: "tenants",
            statements: [
                """
                CREATE TABLE tenants (
                  id text PRIMARY KEY,
                  name text,
                  created_at timestamptz NOT NULL DEFAULT now()
                )
                """
            ]),
        Migration(version: 2, name: "plaid", statements: plaid),
        Migration(version: 3, name: "stripe", statements: stripe),
        Migration(version: 4, name: "notifications", statements: notifications),
        Migration(version: 5, name: "reports", statements: reports),
        Migration(version: 6, name: "low_balance", statements: ["ALTER TABLE tenants ADD COLUMN low_balance_threshold numeric"]),
        // The zone a tenant's monthly report is made in (06:00 on the 1st there), an IANA name.
        Migration(version: 7, name: "tenant_time_zone", statements: ["ALTER TABLE tenants ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'"]),
    ]

    /// Stripe customers, subscriptions, invoices and the ledger of Stripe events (keyed by event id), and the
    /// tenant's billing standing.
    static let stripe: [String] = [
        "ALTER TABLE tenants ADD COLUMN past_due boolean NOT NULL DEFAULT false",
        "ALTER TABLE tenants ADD COLUMN past_due_event_created bigint NOT NULL DEFAULT 0",
        """
        CREATE TABLE stripe_customers (
          tenant_id text PRIMARY KEY REFERENCES tenants(id),
          customer_id text NOT NULL UNIQUE,
          email text,
          deleted boolean NOT NULL DEFAULT false,
          created_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE subscriptions (
          subscription_id text PRIMARY KEY,
          tenant_id text NOT NULL REFERENCES tenants(id),
          customer_id text NOT NULL,
          plan text,
          price_id text,
          status text NOT NULL,
          current_period_end timestamptz,
          cancel_at_period_end boolean NOT NULL DEFAULT false,
          canceled_at timestamptz,
          last_event_id text,
          last_event_created bigint NOT NULL DEFAULT 0,
          updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX subscriptions_tenant ON subscriptions (tenant_id)",
        """
        CREATE TABLE invoices (
          invoice_id text PRIMARY KEY,
          tenant_id text NOT NULL REFERENCES tenants(id),
          subscription_id text,
          status text,
          amount_due bigint NOT NULL DEFAULT 0,
          amount_paid bigint NOT NULL DEFAULT 0,
          currency text,
          hosted_invoice_url text,
          last_event_created bigint NOT NULL DEFAULT 0,
          updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX invoices_tenant ON invoices (tenant_id)",
        """
        CREATE TABLE stripe_events (
          event_id text PRIMARY KEY,
          type text NOT NULL,
          created bigint NOT NULL,
          object_id text,
          tenant_id text,
          received_at timestamptz NOT NULL DEFAULT now(),
          processed_at timestamptz,
          outcome text,
          job_id text
        )
        """,
        "CREATE INDEX stripe_events_received ON stripe_events (received_at DESC)",
    ]

    /// Reports: one row per tenant, kind and period, with every format.
    static let reports: [String] = [
        """
        CREATE TABLE reports (
          tenant_id text NOT NULL REFERENCES tenants(id),
          kind text NOT NULL,
          period text NOT NULL,
          formats text[] NOT NULL,
          json jsonb NOT NULL,
          csv text NOT NULL,
          svg text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, kind, period)
        )
        """
    ]

    /// Notifications: the inbox (one row per notification id, with read state and what it collapsed into), each
    /// channel's delivery, the channels a tenant (or one of its users) has, and per-user opt-outs per kind.
    static let notifications: [String] = [
        """
        CREATE TABLE notification_channels (
          tenant_id text NOT NULL REFERENCES tenants(id),
          user_id text NOT NULL DEFAULT '',
          inbox boolean NOT NULL DEFAULT true,
          email text,
          webhook_url text,
          updated_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, user_id)
        )
        """,
        """
        CREATE TABLE notification_optouts (
          tenant_id text NOT NULL REFERENCES tenants(id),
          user_id text NOT NULL,
          kind text NOT NULL,
          PRIMARY KEY (tenant_id, user_id, kind)
        )
        """,
        """
        CREATE TABLE notifications (
          notification_id text NOT NULL,
          tenant_id text NOT NULL REFERENCES tenants(id),
          user_id text NOT NULL DEFAULT '',
          kind text NOT NULL,
          subject text NOT NULL DEFAULT '',
          title text NOT NULL,
          body text NOT NULL,
          data jsonb NOT NULL DEFAULT '{}',
          outcome text NOT NULL DEFAULT 'pending',
          collapsed_into text,
          created_at timestamptz NOT NULL DEFAULT now(),
          read_at timestamptz,
          PRIMARY KEY (tenant_id, notification_id)
        )
        """,
        "CREATE INDEX notifications_inbox ON notifications (tenant_id, user_id, created_at DESC)",
        "CREATE INDEX notifications_collapse ON notifications (tenant_id, user_id, kind, subject, created_at DESC)",
        """
        CREATE TABLE notification_deliveries (
          tenant_id text NOT NULL,
          notification_id text NOT NULL,
          channel text NOT NULL,
          status text NOT NULL,
          attempts integer NOT NULL DEFAULT 0,
          last_error text,
          provider_id text,
          claimed_by text,
          claimed_at timestamptz,
          sent_at timestamptz,
          PRIMARY KEY (tenant_id, notification_id, channel),
          FOREIGN KEY (tenant_id, notification_id) REFERENCES notifications (tenant_id, notification_id)
        )
        """,
    ]

    /// Plaid items, institutions, accounts with their balance history, transactions, tenants' category rules
    /// and the ledger of Plaid webhook deliveries.
    static let plaid: [String] = [
        """
        CREATE TABLE institutions (
          id text PRIMARY KEY,
          name text NOT NULL,
          country_codes text[] NOT NULL DEFAULT '{}',
          products text[] NOT NULL DEFAULT '{}',
          url text,
          status_item_logins text,
          status_transactions_updates text,
          status_checked_at timestamptz,
          updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        """
        CREATE TABLE plaid_items (
          item_id text PRIMARY KEY,
          tenant_id text NOT NULL REFERENCES tenants(id),
          institution_id text,
          institution_name text,
          status text NOT NULL DEFAULT 'active',
          error_code text,
          cursor text,
          consent_expires_at timestamptz,
          access_token_ciphertext bytea,
          access_token_key_id text,
          webhook text,
          link_token_sha256 text UNIQUE,
          last_synced_at timestamptz,
          last_webhook_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        )
        """,
        "CREATE INDEX plaid_items_tenant ON plaid_items (tenant_id)",
        """
        CREATE TABLE accounts (
          tenant_id text NOT NULL REFERENCES tenants(id),
          account_id text NOT NULL,
          item_id text NOT NULL REFERENCES plaid_items(item_id) ON DELETE CASCADE,
          name text NOT NULL,
          official_name text,
          mask text,
          type text NOT NULL,
          subtype text,
          current numeric,
          available numeric,
          credit_limit numeric,
          currency text,
          updated_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, account_id)
        )
        """,
        "CREATE INDEX accounts_item ON accounts (item_id)",
        """
        CREATE TABLE account_balances (
          id bigserial PRIMARY KEY,
          tenant_id text NOT NULL,
          account_id text NOT NULL,
          current numeric,
          available numeric,
          credit_limit numeric,
          currency text,
          observed_at timestamptz NOT NULL DEFAULT now(),
          FOREIGN KEY (tenant_id, account_id) REFERENCES accounts (tenant_id, account_id) ON DELETE CASCADE
        )
        """,
        "CREATE INDEX account_balances_account ON account_balances (tenant_id, account_id, observed_at)",
        """
        CREATE TABLE transactions (
          tenant_id text NOT NULL,
          transaction_id text NOT NULL,
          account_id text NOT NULL,
          item_id text NOT NULL,
          amount numeric NOT NULL,
          currency text,
          date date NOT NULL,
          datetime timestamptz,
          authorized_date date,
          name text NOT NULL,
          merchant text,
          pending boolean NOT NULL,
          pending_transaction_id text,
          plaid_category_primary text,
          plaid_category_detailed text,
          plaid_category_confidence text,
          category text NOT NULL,
          category_source text NOT NULL,
          removed boolean NOT NULL DEFAULT false,
          removed_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (tenant_id, transaction_id)
        )
        """,
        "CREATE INDEX transactions_account_date ON transactions (tenant_id, account_id, date DESC)",
        "CREATE INDEX transactions_item ON transactions (item_id)",
        """
        CREATE TABLE category_rules (
          id bigserial PRIMARY KEY,
          tenant_id text NOT NULL REFERENCES tenants(id),
          field text NOT NULL CHECK (field IN ('merchant', 'name')),
          pattern text NOT NULL,
          category text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          UNIQUE (tenant_id, field, pattern)
        )
        """,
        """
        CREATE TABLE plaid_webhooks (
          body_sha256 text NOT NULL,
          issued_at bigint NOT NULL,
          webhook_type text,
          webhook_code text,
          item_id text,
          outcome text NOT NULL,
          job_id text,
          received_at timestamptz NOT NULL DEFAULT now(),
          PRIMARY KEY (body_sha256, issued_at)
        )
        """,
    ]
}
