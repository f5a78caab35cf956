"""The platform end to end: ``python -m kopano.devstack up`` (what ``make up`` runs) on free
ports, then user journeys through the gateway only, as a frontend would make them.

The stack is started once for the module; every journey uses its own members. The last test
presses Ctrl-C. A journey that needs a service is skipped only when that service's package is
not installed; an installed service that the gateway cannot reach fails its journey.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psutil
import pytest
from e2e_platform import Platform, Reply, companion_specs, installed_services

from kopano.devstack._process import port_is_free
from kopano.devstack.services import GATEWAY, module_available

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

PASSWORD = "Lesedi-la-Basotho-2026"
IDLE_RSS_BUDGET = 150 * 2**20
# What a stack trace, SQL or an internal address would look like in a response.
LEAKS = ("Traceback", 'File "', ".py", "sqlalchemy", "asyncpg", "pymongo", "SELECT ", "INSERT ")

FIGURES: dict[str, str] = {}


def needs(service: str) -> None:
    """Skip only when the service's package is not installed."""
    if not module_available(service):
        pytest.skip(f"the {service} service is not installed")


def eventually(check: Callable[[], Any], *, timeout: float = 90.0, what: str) -> Any:
    """Poll ``check`` until it returns something truthy (events travel through Kafka)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")


def assert_clean(reply: Reply) -> None:
    """An error response names a code and shows nothing internal."""
    assert reply.errors, reply.text
    for error in reply.errors:
        assert error.get("message"), reply.text
        assert (error.get("extensions") or {}).get("code"), f"no extensions.code: {reply.text}"
    for leak in LEAKS:
        assert leak not in reply.text, f"{leak!r} in {reply.text}"


# --------------------------------------------------------------------------------------
# the stack and its people
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    running = Platform.start()
    FIGURES["start-up (launch to gateway ready)"] = f"{running.started_in:.1f} s"
    try:
        yield running
    finally:
        running.stop()


REGISTER = """
mutation Register($input: RegisterInput!) {
  register(input: $input) { id email fullName countryOfResidence districtOfOrigin { code } }
}"""
LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) { accessToken refreshToken memberId }
}"""


def register(platform: Platform, name: str, **extra: Any) -> dict[str, Any]:
    email = f"{name.split()[0].lower()}.{uuid.uuid4().hex[:10]}@example.org"
    member_input = {
        "email": email,
        "password": PASSWORD,
        "fullName": name,
        "countryOfResidence": "ZA",
        "acceptTerms": True,
        "acceptDataProcessing": True,
        **extra,
    }
    member: dict[str, Any] = platform.gql(REGISTER, {"input": member_input}).data()["register"]
    return member


def login(platform: Platform, email: str) -> dict[str, Any]:
    auth: dict[str, Any] = platform.gql(LOGIN, {"email": email, "password": PASSWORD}).data()[
        "login"
    ]
    return auth


def signed_in(platform: Platform, name: str, **extra: Any) -> tuple[str, str]:
    """A new member, signed in: (member id, access token)."""
    member = register(platform, name, **extra)
    auth = login(platform, member["email"])
    return member["id"], auth["accessToken"]


@pytest.fixture(scope="module")
def admin_token(platform: Platform) -> str:
    """The first administrator, bootstrapped the way an operator does it (members CLI)."""
    member = register(platform, "Palesa Administrator")
    members_db = f"postgresql+asyncpg://postgres@127.0.0.1:{platform.ports['postgres']}/members"
    done = subprocess.run(
        [sys.executable, "-m", "members", "grant-role", member["email"], "admin"],
        env={
            "PATH": "/usr/bin:/bin",
            "MEMBERS_DATABASE_URL": members_db,
            "MEMBERS_ENVIRONMENT": "dev",
            "KOPANO_DATA_DIR": str(platform.data_dir),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    token: str = login(platform, member["email"])["accessToken"]
    roles = platform.gql("{ me { roles } }", token=token).data()["me"]["roles"]
    assert "admin" in roles
    return token


# --------------------------------------------------------------------------------------
# start-up
# --------------------------------------------------------------------------------------


def test_up_prints_the_gateway_and_every_service_url(platform: Platform) -> None:
    assert platform.gateway_url == platform.url("/graphql")
    banner = "\n".join(platform.lines)
    assert "Kopano is up." in banner
    for spec in installed_services():
        assert f"http://127.0.0.1:{platform.ports[spec.name]}/graphql" in banner, spec.name
        assert f"{spec.name} is ready on http://127.0.0.1:{platform.ports[spec.name]}" in banner
    for spec in companion_specs():
        assert f"http://127.0.0.1:{platform.ports[spec.name]}" in banner, spec.name
    assert f"127.0.0.1:{platform.ports['postgres']}" in banner
    assert f"127.0.0.1:{platform.ports['kafka']}" in banner
    assert f"127.0.0.1:{platform.ports['mongo']}" in banner
    # Nothing of this run is on the fixed development ports.
    assert ":4000/" not in banner
    ready = platform.http.get(platform.url("/readyz")).json()
    assert ready["status"] == "ok"
    assert sorted(ready["subgraphs"]) == sorted(s.name for s in installed_services())
    assert "gateway_requests_total" in platform.http.get(platform.url("/metrics")).text
    # Every service answers its operational endpoints on the port it was given.
    for spec in installed_services():
        for path in ("/healthz", "/readyz"):
            reply = platform.http.get(platform.url(path, spec.name))
            assert reply.status_code == 200, f"{spec.name}{path}: {reply.text}"
        metrics = platform.http.get(platform.url("/metrics", spec.name))
        assert "http_requests_total" in metrics.text, spec.name


def test_each_service_process_is_under_150_mb_resident_when_idle(platform: Platform) -> None:
    time.sleep(2)  # let start-up work (first requests, consumer joins) settle
    modules = [
        GATEWAY.module,
        *(s.module for s in installed_services()),
        *(s.module for s in companion_specs()),
    ]
    rss = {module: platform.process_of(module).memory_info().rss for module in modules}
    FIGURES["idle RSS"] = ", ".join(f"{m} {v / 2**20:.0f} MB" for m, v in rss.items())
    over = {m: f"{v / 2**20:.0f} MB" for m, v in rss.items() if v >= IDLE_RSS_BUDGET}
    assert not over, f"over the 150 MB idle budget: {over}"
    # The launcher reports the same figures itself once the stack has settled.
    line: str = eventually(
        lambda: next(
            (ln for ln in platform.lines if ln.startswith("kopano: resident memory:")), None
        ),
        timeout=60,
        what="the launcher's memory report",
    )
    for spec in installed_services():
        assert f" {spec.name} " in line, line
    FIGURES["launcher memory report"] = line.removeprefix("kopano: resident memory: ")


# --------------------------------------------------------------------------------------
# members through the gateway
# --------------------------------------------------------------------------------------


def test_member_registers_logs_in_reads_and_edits_their_profile(platform: Platform) -> None:
    member = register(platform, "Thabo Mokoena", districtOfOrigin="LS-A", phone="+27821234567")
    assert member["fullName"] == "Thabo Mokoena"
    assert member["districtOfOrigin"] == {"code": "LS-A"}

    # Email is case-insensitive at log-in.
    auth = login(platform, member["email"].upper())
    assert auth["memberId"] == member["id"]
    token = auth["accessToken"]

    me = platform.gql("{ me { id email fullName countryOfResidence } }", token=token).data()["me"]
    assert me == {
        "id": member["id"],
        "email": member["email"],
        "fullName": "Thabo Mokoena",
        "countryOfResidence": "ZA",
    }

    updated = platform.gql(
        """mutation Update($input: UpdateProfileInput!) {
             updateProfile(input: $input) { id occupation city skills languages bio }
           }""",
        {
            "input": {
                "occupation": "Nurse",
                "city": "Johannesburg",
                "skills": ["nursing", "midwifery"],
                "languages": ["st", "en"],
                "bio": "Ke tsoa Maseru.",
            }
        },
        token=token,
    ).data()["updateProfile"]
    assert updated["occupation"] == "Nurse"
    assert updated["city"] == "Johannesburg"
    assert set(updated["skills"]) == {"nursing", "midwifery"}
    again = platform.gql("{ me { occupation city } }", token=token).data()["me"]
    assert again == {"occupation": "Nurse", "city": "Johannesburg"}

    # A rotated refresh token works once; logging out ends the session.
    rotated = platform.gql(
        "mutation R($t: String!) { refreshToken(refreshToken: $t) { accessToken refreshToken } }",
        {"t": auth["refreshToken"]},
    ).data()["refreshToken"]
    assert (
        platform.gql("{ me { id } }", token=rotated["accessToken"]).data()["me"]["id"]
        == (member["id"])
    )
    assert platform.gql(
        "mutation L($t: String!) { logout(refreshToken: $t) }", {"t": rotated["refreshToken"]}
    ).data() == {"logout": True}
    refused = platform.gql(
        "mutation R($t: String!) { refreshToken(refreshToken: $t) { accessToken } }",
        {"t": rotated["refreshToken"]},
    )
    assert refused.codes == ["UNAUTHENTICATED"], refused.text


def test_bad_input_gets_a_stable_code_and_no_internals(platform: Platform) -> None:
    good = register(platform, "Lineo Sello")
    base = {
        "email": "someone@example.org",
        "password": PASSWORD,
        "fullName": "Someone",
        "countryOfResidence": "ZA",
        "acceptTerms": True,
        "acceptDataProcessing": True,
    }
    cases: list[tuple[dict[str, Any], str, str | None]] = [
        ({"email": "not-an-email"}, "BAD_USER_INPUT", "email"),
        ({"password": "short"}, "BAD_USER_INPUT", "password"),
        ({"countryOfResidence": "XX"}, "BAD_USER_INPUT", "countryOfResidence"),
        ({"acceptTerms": False}, "BAD_USER_INPUT", None),
        ({"email": good["email"].upper()}, "CONFLICT", None),
    ]
    for change, code, field in cases:
        reply = platform.gql(REGISTER, {"input": {**base, **change}})
        assert reply.status == 200, reply.text
        assert reply.body.get("data") is None, reply.text
        assert reply.codes == [code], f"{change}: {reply.text}"
        if field is not None:
            assert reply.errors[0]["extensions"].get("field") == field, reply.text
        assert_clean(reply)

    wrong = platform.gql(LOGIN, {"email": good["email"], "password": "Wrong-password-123"})
    assert wrong.codes == ["UNAUTHENTICATED"], wrong.text
    assert_clean(wrong)
    anonymous = platform.gql("{ me { id } }")
    assert anonymous.codes == ["UNAUTHENTICATED"], anonymous.text
    forged = platform.gql("{ me { id } }", token="eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
    assert forged.codes == ["UNAUTHENTICATED"], forged.text
    assert_clean(forged)
    # Nothing was half-written: the duplicate did not replace the first member.
    assert login(platform, good["email"])["memberId"] == good["id"]


def test_malformed_documents_get_a_stable_code(platform: Platform) -> None:
    syntax = platform.gql("{ me { id ")
    assert syntax.codes == ["GRAPHQL_PARSE_FAILED"], syntax.text
    assert_clean(syntax)
    unknown = platform.gql("{ me { id shoeSize } }")
    assert unknown.codes == ["GRAPHQL_VALIDATION_FAILED"], unknown.text
    assert_clean(unknown)
    # Variables of the wrong shape are the client's mistake too, with a code.
    variables = platform.gql(REGISTER, {"input": {"email": 42}})
    assert variables.errors, variables.text
    assert set(variables.codes) <= {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, variables.text
    assert_clean(variables)


# --------------------------------------------------------------------------------------
# federation is the gateway's alone
# --------------------------------------------------------------------------------------


def test_clients_cannot_reach_federation_fields(platform: Platform) -> None:
    # Through the gateway: not part of the API schema.
    for query in (
        "{ _service { sdl } }",
        'query { _entities(representations: [{__typename: "Member", id: "x"}]) { __typename } }',
    ):
        reply = platform.gql(query)
        assert reply.errors, reply.text
        assert not reply.body.get("data"), reply.text
        assert "type Query" not in reply.text

    # Straight to each subgraph: refused without the gateway's token, or with a wrong one.
    representation = {"__typename": "Member", "id": str(uuid.uuid4())}
    for spec in installed_services():
        url = platform.url("/graphql", spec.name)
        for headers in ({}, {"X-Kopano-Gateway-Token": "guessed"}):
            sdl = platform.gql("{ _service { sdl } }", url=url, headers=headers)
            assert sdl.codes == ["FORBIDDEN"], f"{spec.name}: {sdl.text}"
            assert "type Query" not in sdl.text
            entities = platform.gql(
                "query($r: [_Any!]!) { _entities(representations: $r) { __typename } }",
                {"r": [representation]},
                url=url,
                headers=headers,
            )
            assert "FORBIDDEN" in entities.codes, f"{spec.name}: {entities.text}"
            assert not (entities.body.get("data") or {}).get("_entities"), entities.text


def test_one_query_spans_every_subgraph(platform: Platform) -> None:
    """``me`` and what every other installed service adds to ``Member``, in one request."""
    member_id, token = signed_in(platform, "Mpho Letsie")
    extensions = {
        "content": "posts { edges { node { id } } }",
        "opportunities": "recommendedOpportunities { id } applications { edges { node { id } } }",
        "payments": "remittances { id } recipients { id }",
    }
    wanted = [name for name in extensions if module_available(name)]
    selection = " ".join(extensions[name] for name in wanted)
    reply = platform.gql(f"{{ me {{ id fullName {selection} }} }}", token=token)
    me = reply.data()["me"]
    assert me["id"] == member_id
    assert me["fullName"] == "Mpho Letsie"
    if "content" in wanted:
        assert me["posts"] == {"edges": []}
    if "opportunities" in wanted:
        assert me["recommendedOpportunities"] == []
        assert me["applications"] == {"edges": []}
    if "payments" in wanted:
        assert me["remittances"] == []
        assert me["recipients"] == []


# --------------------------------------------------------------------------------------
# journeys per service
# --------------------------------------------------------------------------------------

CREATE_POST = """
mutation Post($input: PostInput!) {
  createPost(input: $input) { id status author { id fullName } }
}"""
FEED = "{ feed(first: 20) { edges { node { id title status author { id fullName } } } } }"


def test_a_post_is_moderated_into_the_feed(platform: Platform, admin_token: str) -> None:
    needs("content")
    author_id, token = signed_in(platform, "Nthabiseng Mofokeng")
    post = platform.gql(
        CREATE_POST,
        {
            "input": {
                "kind": "NEWS_DIASPORA",
                "title": f"Basotho choir sings in Johannesburg {uuid.uuid4().hex[:6]}",
                "summary": "A night of mokorotlo and song.",
                "body": "The **choir** sang *Lesotho Fatše La Bo-ntat'a Rona*.",
                "language": "en",
                "tags": ["music", "johannesburg"],
            }
        },
        token=token,
    ).data()["createPost"]
    # A plain member's post waits for a moderator; its author comes from members.
    assert post["status"] == "SUBMITTED"
    assert post["author"] == {"id": author_id, "fullName": "Nthabiseng Mofokeng"}
    feed_ids = [e["node"]["id"] for e in platform.gql(FEED, token=token).data()["feed"]["edges"]]
    assert post["id"] not in feed_ids

    queue = platform.gql(
        "{ moderationQueue(first: 50) { edges { node { id } } } }", token=admin_token
    ).data()["moderationQueue"]["edges"]
    assert post["id"] in [e["node"]["id"] for e in queue]
    approved = platform.gql(
        "mutation M($id: ID!) { moderatePost(id: $id, approve: true) { id status } }",
        {"id": post["id"]},
        token=admin_token,
    ).data()["moderatePost"]
    assert approved["status"] == "PUBLISHED"

    edges = platform.gql(FEED, token=token).data()["feed"]["edges"]
    mine = next(e["node"] for e in edges if e["node"]["id"] == post["id"])
    assert mine["author"] == {"id": author_id, "fullName": "Nthabiseng Mofokeng"}
    posts = platform.gql("{ me { posts { edges { node { id status } } } } }", token=token).data()[
        "me"
    ]["posts"]["edges"]
    assert [e["node"] for e in posts] == [{"id": post["id"], "status": "PUBLISHED"}]

    # A bad post is refused with a code, and nothing of it is kept.
    bad = platform.gql(
        CREATE_POST,
        {"input": {"kind": "STORY", "title": " ", "body": "x", "language": "st"}},
        token=token,
    )
    assert bad.codes == ["BAD_USER_INPUT"], bad.text
    assert_clean(bad)


def test_an_opportunity_is_recommended_and_applied_for(
    platform: Platform, admin_token: str
) -> None:
    needs("opportunities")
    organisation = platform.gql(
        """mutation O($input: CreateOrganisationInput!) { createOrganisation(input: $input) { id } }""",
        {
            "input": {
                "name": f"Basotho Nurses Network {uuid.uuid4().hex[:6]}",
                "type": "PROFESSIONAL_NETWORK",
                "country": "ZA",
            }
        },
        token=admin_token,
    ).data()["createOrganisation"]["id"]
    platform.gql(
        "mutation V($id: ID!) { verifyOrganisation(id: $id) { id verified } }",
        {"id": organisation},
        token=admin_token,
    ).data()
    skill = f"theatre-nursing-{uuid.uuid4().hex[:6]}"
    create = {
        "kind": "JOB",
        "organisationId": organisation,
        "title": "Theatre nurse, Queen 'Mamohato Memorial Hospital",
        "description": "Join the theatre team in **Maseru**.",
        "location": {"country": "LS", "city": "Maseru"},
        "skills": [skill],
        "job": {"employmentType": "FULL_TIME"},
    }

    def try_create() -> str | None:
        # The verification reaches opportunities as an event; until then posting is refused.
        reply = platform.gql(
            "mutation C($input: CreateOpportunityInput!) { createOpportunity(input: $input) { id status } }",
            {"input": create},
            token=admin_token,
        )
        if reply.codes == ["FORBIDDEN"]:
            return None
        created: dict[str, str] = reply.data()["createOpportunity"]
        assert created["status"] == "DRAFT"
        return created["id"]

    opportunity = eventually(try_create, what="posting for the verified organisation")
    published = platform.gql(
        "mutation P($id: ID!) { publishOpportunity(id: $id) { id status } }",
        {"id": opportunity},
        token=admin_token,
    ).data()["publishOpportunity"]
    assert published["status"] == "OPEN"

    _, token = signed_in(platform, "Rethabile Nkuebe")
    platform.gql(
        "mutation U($s: [String!]) { updateProfile(input: {skills: $s}) { id } }",
        {"s": [skill]},
        token=token,
    ).data()

    def recommended() -> list[dict[str, Any]]:
        me = platform.gql(
            "{ me { recommendedOpportunities { id title organisation { id } } } }", token=token
        ).data()["me"]
        found: list[dict[str, Any]] = me["recommendedOpportunities"]
        return found

    # The skills reach opportunities through member.profile_updated on Kafka.
    found = eventually(recommended, what="the recommendation")
    assert found[0]["id"] == opportunity
    assert found[0]["organisation"] == {"id": organisation}

    apply_doc = """mutation A($id: ID!, $m: String!) {
      apply(opportunityId: $id, message: $m) { id status }
    }"""
    message = "Ten years in theatre at Chris Hani Baragwanath."
    applied = platform.gql(apply_doc, {"id": opportunity, "m": message}, token=token).data()[
        "apply"
    ]
    assert applied["status"] == "SUBMITTED"
    twice = platform.gql(apply_doc, {"id": opportunity, "m": "Again"}, token=token)
    assert twice.codes == ["CONFLICT"], twice.text
    mine = platform.gql(
        "{ me { applications { edges { node { id status opportunity { title } } } } } }",
        token=token,
    ).data()["me"]["applications"]["edges"]
    assert [e["node"]["id"] for e in mine] == [applied["id"]]


def test_a_remittance_goes_from_quote_to_paid_out(platform: Platform, admin_token: str) -> None:
    needs("payments")
    # Anyone may price a transfer; the fee is shown before anything is sent.
    quote_doc = """mutation Q($input: QuoteInput!) {
      quote(input: $input) {
        id sendAmount { amount currency } fee { amount currency }
        totalCharged { amount currency } receiveAmount { amount currency } rate
      }
    }"""
    quote_input = {"sendCurrency": "ZAR", "payoutMethod": "MPESA", "sendAmount": "150000"}
    anonymous = platform.gql(quote_doc, {"input": quote_input}).data()["quote"]
    assert anonymous["sendAmount"] == {"amount": "150000", "currency": "ZAR"}
    assert anonymous["receiveAmount"]["currency"] == "LSL"
    assert int(anonymous["totalCharged"]["amount"]) == int(anonymous["sendAmount"]["amount"]) + int(
        anonymous["fee"]["amount"]
    )

    member_id, token = signed_in(platform, "Lerato Mohapi")
    platform.gql(
        """mutation S { saveSenderDetails(input: {occupation: "Teacher",
             address: "12 Jorissen St, Braamfontein", country: "ZA"}) { occupation } }""",
        token=token,
    ).data()
    recipient = platform.gql(
        """mutation R { addRecipient(input: {name: "'Me Mohapi", relationship: PARENT,
             payoutMethod: MPESA, mobileNumber: "+26658123456"}) { id } }""",
        token=token,
    ).data()["addRecipient"]["id"]
    bad_recipient = platform.gql(
        """mutation R { addRecipient(input: {name: "X", relationship: PARENT,
             payoutMethod: MPESA, mobileNumber: "+2771234"}) { id } }""",
        token=token,
    )
    assert bad_recipient.codes == ["BAD_USER_INPUT"], bad_recipient.text
    quote = platform.gql(quote_doc, {"input": quote_input}, token=token).data()["quote"]
    send_doc = """mutation Send($input: SendRemittanceInput!) {
      sendRemittance(input: $input) { id state reference }
    }"""
    send = {
        "quoteId": quote["id"],
        "recipientId": recipient,
        "purpose": "FAMILY_SUPPORT",
        "idempotencyKey": f"e2e-{uuid.uuid4().hex}",
    }
    # Unverified members cannot send.
    refused = platform.gql(send_doc, {"input": send}, token=token)
    assert refused.codes == ["FORBIDDEN"], refused.text
    platform.gql(
        "mutation T($m: ID!) { setVerificationTier(memberId: $m, tier: BASIC) }",
        {"m": member_id},
        token=admin_token,
    ).data()

    send["idempotencyKey"] = f"e2e-{uuid.uuid4().hex}"
    sent = platform.gql(send_doc, {"input": send}, token=token).data()["sendRemittance"]
    again = platform.gql(send_doc, {"input": send}, token=token).data()["sendRemittance"]
    assert again["id"] == sent["id"]

    # The sandbox partners collect and pay out over HTTP, answering by signed webhooks.
    def paid_out() -> bool:
        state = platform.gql(
            "query S($id: ID!) { remittance(id: $id) { state } }", {"id": sent["id"]}, token=token
        ).data()["remittance"]["state"]
        assert state not in ("FAILED", "CANCELLED", "REFUNDED", "REVERSED"), state
        return bool(state == "PAID_OUT")

    eventually(paid_out, what="the payout")
    me = platform.gql(
        """{ me { remittances { id state reference sendAmount { amount currency }
                               recipient { name } } } }""",
        token=token,
    ).data()["me"]
    assert me["remittances"] == [
        {
            "id": sent["id"],
            "state": "PAID_OUT",
            "reference": sent["reference"],
            "sendAmount": {"amount": "150000", "currency": "ZAR"},
            "recipient": {"name": "'Me Mohapi"},
        }
    ]


def test_erasing_an_account_reaches_the_other_services(
    platform: Platform, admin_token: str
) -> None:
    """``eraseMe`` in members; content learns it from ``member.erased`` on Kafka."""
    needs("content")
    author_id, token = signed_in(platform, "Teboho Lebona")
    post = platform.gql(
        CREATE_POST,
        {
            "input": {
                "kind": "OPINION",
                "title": f"Why the diaspora should vote {uuid.uuid4().hex[:6]}",
                "body": "Because *home* is still home.",
                "language": "st",
            }
        },
        token=token,
    ).data()["createPost"]
    platform.gql(
        "mutation M($id: ID!) { moderatePost(id: $id, approve: true) { id } }",
        {"id": post["id"]},
        token=admin_token,
    ).data()
    post_doc = "query P($id: ID!) { post(id: $id) { authorRemoved author { id } } }"
    before = platform.gql(post_doc, {"id": post["id"]}, token=admin_token).data()["post"]
    assert before == {"authorRemoved": False, "author": {"id": author_id}}

    erased = platform.gql(
        "mutation E($p: String!) { eraseMe(password: $p) }", {"p": PASSWORD}, token=token
    ).data()
    assert erased == {"eraseMe": True}

    def scrubbed() -> bool:
        now = platform.gql(post_doc, {"id": post["id"]}, token=admin_token).data()["post"]
        return bool(now["authorRemoved"] and now["author"] is None)

    eventually(scrubbed, what="content attributing the post to a removed member")
    # The erased account is gone for good.
    gone = platform.gql("{ me { id } }", token=token)
    assert gone.codes == ["UNAUTHENTICATED"], gone.text


EXPORT = "{ myData myContentData myOpportunitiesData myPaymentsData }"


def test_a_member_downloads_everything_the_platform_holds_about_them(platform: Platform) -> None:
    """One request through the gateway; each service answers for what it holds, and only
    about the caller."""
    for service in ("content", "opportunities", "payments"):
        needs(service)
    member_id, token = signed_in(platform, "Nthabiseng Letsie")
    _, other_token = signed_in(platform, "Thabo Ramaisa")
    title = f"Letter from Polokwane {uuid.uuid4().hex[:6]}"
    platform.gql(
        CREATE_POST,
        {
            "input": {
                "kind": "STORY",
                "title": title,
                "body": "We met at the *pitso*.",
                "language": "st",
            }
        },
        token=token,
    ).data()
    search = f"Engineering in Lesotho {uuid.uuid4().hex[:6]}"
    platform.gql(
        """mutation S($name: String!) { saveSearch(name: $name, criteria: {country: "LS"}) { id } }""",
        {"name": search},
        token=token,
    ).data()
    platform.gql(
        """mutation S { saveSenderDetails(input: {occupation: "Nurse",
             address: "4 Voortrekker Rd, Polokwane", country: "ZA"}) { occupation } }""",
        token=token,
    ).data()
    platform.gql(
        """mutation R { addRecipient(input: {name: "Ntate Letsie", relationship: PARENT,
             payoutMethod: ECOCASH, mobileNumber: "+26662123456"}) { id } }""",
        token=token,
    ).data()

    mine = platform.gql(EXPORT, token=token).data()
    assert mine["myData"]["account"]["fullName"] == "Nthabiseng Letsie"
    parts = {
        "members": (mine["myData"], "Nthabiseng Letsie"),
        "content": (mine["myContentData"], title),
        "opportunities": (mine["myOpportunitiesData"], search),
        "payments": (mine["myPaymentsData"], "Ntate Letsie"),
    }
    for service, (part, expected) in parts.items():
        assert part["service"] == service
        assert part["memberId"] == member_id
        assert expected in str(part), (service, part)
    assert "4 Voortrekker Rd, Polokwane" in str(mine["myPaymentsData"])

    # Another member's copy holds none of it.
    theirs = platform.gql(EXPORT, token=other_token).data()
    for leaked in (title, search, "Ntate Letsie", "Voortrekker", "Nthabiseng"):
        assert leaked not in str(theirs)

    # Signed out: each part refused with a code, nothing served.
    anonymous = platform.gql(EXPORT)
    assert_clean(anonymous)
    assert set(anonymous.codes) == {"UNAUTHENTICATED"}, anonymous.text
    assert not any((anonymous.body.get("data") or {}).values())


# --------------------------------------------------------------------------------------
# Ctrl-C
# --------------------------------------------------------------------------------------


def test_ctrl_c_stops_everything_and_frees_every_port(platform: Platform) -> None:
    children = platform.children()
    assert children, "the launcher has no child processes"
    began = time.monotonic()
    code = platform.interrupt()
    FIGURES["shutdown after Ctrl-C"] = f"{time.monotonic() - began:.1f} s"
    assert code == 0, platform.output()
    assert platform.lines[-1] == "kopano: stopped", platform.output(20)
    alive = [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [p.pid for p in alive]
    taken = {name: port for name, port in platform.ports.items() if not port_is_free(port)}
    assert not taken, taken
    print("\nplatform figures:\n" + "\n".join(f"  {k}: {v}" for k, v in FIGURES.items()))
