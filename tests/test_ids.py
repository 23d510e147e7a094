from orchestra.interpreter.ids import operation_id

ROOT_1 = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"


def test_root_ids_match_the_reference_vectors():
    assert operation_id(None, 1) == ROOT_1
    assert operation_id(None, 2) == (
        "c5faca15ac2f93578b39ef4b6bbb871bdedce4ddd584fd31f0bb66fade3947e6"
    )
    assert operation_id("", 3) == (
        "6f760b9e9eac89f07ab0223b0f4acb04d1e355d893a1b86a83f4d4b405adee99"
    )


def test_child_and_branch_ids_match_the_reference_vectors():
    assert operation_id(ROOT_1, 1) == (
        "974bfc6321e227b0ff101342eaf19b336f002dc6cc99c18f0941a7755cc20fc4"
    )
    branch = operation_id(ROOT_1, 0)
    assert branch == "1712f93e2f51df042e2b933907d75accfe34a48fe4a42a24e0b08131bc72d591"
    assert operation_id(branch, 1) == (
        "48550629202cb2d0e1bd4f07d826361bbd2defa71565264c01647fc2da0e9b1e"
    )


def test_ids_fill_the_service_maximum_of_64_characters():
    assert all(len(operation_id(None, n)) == 64 for n in range(1, 50))
