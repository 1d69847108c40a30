from apps.core.formatting import duration_words


def test_durations_name_the_largest_unit_and_the_next_when_it_counts():
    said = [duration_words(s) for s in (0, 45, 60, 90, 200, 3600, 5400, 86400, 90000, 599.6)]
    assert said == ["0 s", "45 s", "1 min", "1 min 30 s", "3 min 20 s", "1 h", "1 h 30 min", "1 d", "1 d 1 h", "10 min"]
