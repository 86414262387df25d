from decimal import Decimal

from billow.web.charts import Bar, bar_chart, nice_ceiling


def test_nice_ceiling_is_the_next_round_step() -> None:
    assert nice_ceiling(Decimal(0)) == 1
    assert nice_ceiling(Decimal(7)) == 10  # 1, 2, 2.5, 5 are below 7
    assert nice_ceiling(Decimal(2)) == 2
    assert nice_ceiling(Decimal("2.1")) == Decimal("2.5")
    assert nice_ceiling(Decimal(1234)) == 2000
    assert nice_ceiling(Decimal("0.03")) == Decimal("0.05")


def test_chart_lists_every_figure_for_screen_readers() -> None:
    html = bar_chart([Bar("Jan", Decimal(10), "10.00 EUR"), Bar("Feb", Decimal(5))], title="Revenue <EUR>")
    assert 'role="img"' in html
    assert '<desc id="chart-desc">Jan: 10.00 EUR; Feb: 5</desc>' in html
    assert "Revenue &lt;EUR&gt;" in html  # escaped
    # The tallest bar fills the plot (10 of a 10 axis: 192 px), the other half of it.
    assert 'height="192.0"' in html and 'height="96.0"' in html


def test_no_bars_is_a_sentence() -> None:
    assert bar_chart([], title="Usage") == '<p class="muted">No data yet.</p>'
