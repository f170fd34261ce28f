from tests.factories import make_intake


async def test_intake_creates_household(world):
    result = await make_intake(world)
    assert result.file_no.startswith("370102-H")
    assert result.application_number.startswith("SQ370102001-2026-")
