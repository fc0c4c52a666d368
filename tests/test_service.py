"""The tagging service, `musicnn-lite serve`, started for real and spoken to over HTTP on 127.0.0.1."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import soundfile
import soxr

from musicnn_lite import Tagger, cli
from musicnn_lite.embeddings import song_embedding

from conftest import CLIPS, cut_clips, encode, run_cli
from service_client import multipart, read_answer, running_server

pytest.importorskip("uvicorn", reason="the service needs the serve extra: pip install '.[serve]'")
MAX_UPLOAD_MB = 2


@pytest.fixture(scope="module")
def music(tmp_path_factory):
    """A library of 4-s clips (one of them twice, under two names), its catalog, and files to try paths with."""
    root = tmp_path_factory.mktemp("service")
    library = root / "library"
    clips = cut_clips(library / "clips")
    shutil.copy(clips[0], library / "copy of joram.wav")
    catalog = root / "catalog.jsonl"
    assert cli.main([str(library), "-o", str(catalog), "--features", "penultimate", "--quiet"]) == 0
    (root / "secret.wav").write_bytes(clips[1].read_bytes())
    (library / "leads-out.wav").symlink_to(root / "secret.wav")
    return {"root": root, "library": library, "clips": clips, "catalog": catalog}


@pytest.fixture(scope="module")
def server(music):
    args = ["--library", str(music["library"]), "--catalog", str(music["catalog"]),
            "--max-upload", str(MAX_UPLOAD_MB), "--batch-size", "4"]
    with running_server(args, music["root"]) as server:
        yield server
    assert server.left_in_temp() == server.temp_files, "an upload left a file behind"


@pytest.fixture(scope="module")
def tagger():
    return Tagger("MTT_musicnn")


def assert_record_is_tag(record: dict, expected, top_n: int = 3) -> None:
    """A /v1/tag answer holds the fields of a JSON Lines record with Tagger.tag's values."""
    assert record["status"] == "ok" and record["model"] == "MTT_musicnn"
    assert list(record["likelihoods"]) == expected.tags
    np.testing.assert_allclose(list(record["likelihoods"].values()), expected.likelihoods, atol=1e-6)
    assert record["top_tags"] == expected.top(top_n)
    np.testing.assert_allclose(record["timestamps"], expected.timestamps, atol=1e-6)


def test_an_upload_gets_the_likelihoods_of_tagger_tag(server, music, tagger):
    clip = music["clips"][0]
    answer = server.tag(clip, topN=5, taggram="true")
    assert answer.status == 200, answer.error
    expected = tagger.tag(clip)
    assert_record_is_tag(answer.body, expected, top_n=5)
    assert answer.body["path"] is None and "features" not in answer.body
    np.testing.assert_allclose(answer.body["taggram"], expected.taggram, atol=1e-6)


def test_a_multipart_upload_with_features_and_overlap(server, music, tagger):
    clip = CLIPS["joram"]
    body, headers = multipart("file", clip.name, clip.read_bytes())
    answer = server.call("POST", "/v1/tag", body, headers, features="penultimate,max_pool", overlap="1")
    assert answer.status == 200, answer.error
    expected = tagger.tag(clip, input_overlap=1, features=["penultimate", "max_pool"])
    assert_record_is_tag(answer.body, expected)
    assert answer.body["path"] == clip.name
    for name, values in expected.features.items():
        np.testing.assert_allclose(answer.body["features"][name], song_embedding(values), atol=1e-5)


@pytest.mark.parametrize("name, codec, rate", [("song.m4a", "aac", 44100), ("song.opus", "libopus", 48000)])
def test_uploads_that_ffmpeg_decodes_get_the_likelihoods_of_tagger_tag(server, tagger, tmp_path, name, codec, rate):
    waveform, native = soundfile.read(CLIPS["vibe_ace"], frames=44100 * 7, dtype="float32")
    song = encode(tmp_path / name, codec, soxr.resample(waveform, native, rate).T.copy(), rate)
    answer = server.tag(song)  # read from the upload's file object, as PyAV reads it
    assert answer.status == 200, answer.error
    assert_record_is_tag(answer.body, tagger.tag(song))


def test_a_path_under_the_library_gets_the_likelihoods_of_tagger_tag(server, music, tagger):
    clip = music["clips"][2]
    relative = str(clip.relative_to(music["library"]))
    answer = server.call("POST", "/v1/tag", path=relative)
    assert answer.status == 200, answer.error
    assert_record_is_tag(answer.body, tagger.tag(clip))
    assert answer.body["path"] == relative


@pytest.mark.parametrize("path, status", [("../secret.wav", 403), ("clips/../../secret.wav", 403),
                                          ("leads-out.wav", 403), ("/etc/passwd", 403), ("missing.wav", 404),
                                          ("clips", 404)])
def test_paths_that_lead_out_of_the_library_are_refused(server, music, path, status):
    answer = server.call("POST", "/v1/tag", path=path)
    assert answer.status == status, answer.body
    assert answer.error.startswith(path) and str(music["root"]) not in answer.error  # the server's folders unseen


def test_an_absolute_path_is_refused_even_inside_the_library(server, music):
    assert server.call("POST", "/v1/tag", path=str(music["clips"][0])).status == 403


def test_a_path_and_a_body_at_once_are_refused(server, music):
    answer = server.call("POST", "/v1/tag", music["clips"][0].read_bytes(), path="clips/joram-0.wav")
    assert answer.status == 400 and "not both" in answer.error


def test_eight_clients_at_once_get_their_own_answers_in_fewer_batches_than_requests(server, music, tagger):
    clips = music["clips"]  # one patch each: only requests sharing batches make fewer batches than requests
    expected = {clip: tagger.tag(clip).likelihoods for clip in clips}
    before = server.health()["models"]["MTT_musicnn"]
    start_together = threading.Barrier(8, timeout=60)

    def client(number: int) -> list:
        start_together.wait()
        mine = [clips[(number + request) % len(clips)] for request in range(5)]
        return [(clip, server.tag(clip)) for clip in mine]

    with ThreadPoolExecutor(8) as clients:
        answers = [answer for answers in clients.map(client, range(8)) for answer in answers]
    assert len(answers) == 40
    for clip, answer in answers:
        assert answer.status == 200, answer.error
        np.testing.assert_allclose(list(answer.body["likelihoods"].values()), expected[clip], atol=1e-6)
    after = server.health()["models"]["MTT_musicnn"]
    batches, patches = after["batches"] - before["batches"], after["patches"] - before["patches"]
    assert patches == sum(len(tagger.tag(clip).taggram) for clip, _ in answers)
    print(f"{len(answers)} requests, {patches} patches, {batches} network batches")
    assert batches < len(answers), f"{batches} network batches for {len(answers)} requests"


@pytest.mark.parametrize("name, body, status, message", [
    ("random bytes", np.random.default_rng(1).bytes(20000), 422, "could not decode the upload as audio"),
    ("empty", b"", 400, "the upload is empty"),
    ("a text file", b"The quick brown fox.\n" * 200, 422, "could not decode the upload as audio"),
    ("a wav cut inside its header", None, 422, "the upload"),
])
def test_bad_bodies_get_their_status_and_the_next_request_works(server, music, name, body, status, message):
    if body is None:
        body = music["clips"][0].read_bytes()[:30]
    answer = server.tag(body)
    assert answer.status == status, answer.body
    assert message in answer.error and "Traceback" not in answer.error and "\n" not in answer.error
    assert server.tag(music["clips"][1]).status == 200


def test_a_truncated_upload_is_tagged_up_to_the_cut(server, music, tagger, tmp_path):
    data = CLIPS["joram"].read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[:len(data) // 2])
    answer = server.tag(cut)
    assert answer.status == 200, answer.error
    assert_record_is_tag(answer.body, tagger.tag(cut))


def test_too_large_a_body_is_refused_before_it_is_read(server, music):
    connection = server.connection()
    connection.putrequest("POST", "/v1/tag")
    connection.putheader("Content-Length", str(MAX_UPLOAD_MB * 10**6 + 1))
    connection.endheaders()  # the body is never sent: the answer comes from the header alone
    answer = read_answer(connection.getresponse())
    connection.close()
    assert answer.status == 413 and f"({MAX_UPLOAD_MB} MB, its --max-upload)" in answer.error
    assert server.tag(music["clips"][0]).status == 200


def test_too_large_a_chunked_body_is_refused_while_it_arrives(server, music):
    sent = 0

    def chunks():  # no Content-Length: the server counts what arrives
        nonlocal sent
        while sent < 4 * MAX_UPLOAD_MB * 10**6:
            sent += 100_000
            yield b"\0" * 100_000

    connection = server.connection()
    try:
        connection.request("POST", "/v1/tag", body=chunks(), encode_chunked=True)
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused mid-body: the server stopped reading and closed
    answer = read_answer(connection.getresponse())
    connection.close()
    assert answer.status == 413
    assert server.tag(music["clips"][0]).status == 200


@pytest.mark.parametrize("multipart_body", [False, True], ids=["raw", "multipart"])
def test_a_client_that_leaves_mid_upload_leaves_no_traceback_and_no_file(server, music, multipart_body):
    data = CLIPS["joram"].read_bytes()
    body, headers = multipart("file", "song.mp3", data) if multipart_body else (data, {})
    log_before = server.log.read_text()
    connection = server.connection()
    connection.putrequest("POST", "/v1/tag")
    for name, value in {**headers, "Content-Length": str(len(body))}.items():
        connection.putheader(name, value)
    connection.endheaders(body[:len(body) // 3])  # a third of the body, then the client is gone
    connection.close()
    time.sleep(1)
    assert server.tag(music["clips"][0]).status == 200
    assert "Traceback" not in server.log.read_text()[len(log_before):]
    assert server.left_in_temp() == server.temp_files


@pytest.mark.parametrize("query, message", [
    ({"model": "MSD_musicnn"}, "unknown model 'MSD_musicnn'; this server has MTT_musicnn"),
    ({"topN": "0"}, "topN=0 must be a whole number from 1 to 50"),
    ({"topN": "three"}, "topN='three' is not a whole number"),
    ({"features": "penultimate,nope"}, "has no feature 'nope'"),
    ({"overlap": "-1"}, "input_overlap"),
    ({"taggram": "yes"}, "taggram='yes' must be true or false"),
    ({"topn": "3"}, "unknown option 'topn'"),
])
def test_bad_options_are_400_with_the_librarys_message(server, music, query, message):
    answer = server.tag(music["clips"][0], **query)
    assert answer.status == 400 and message in answer.error, answer.body


def test_models_and_health_describe_the_loaded_models(server):
    models = server.call("GET", "/v1/models").body["models"]
    tagger_tags = Tagger("MTT_musicnn").tags
    assert [(model["name"], model["default"]) for model in models] == [("MTT_musicnn", True)]
    assert models[0]["tags"] == tagger_tags and "penultimate" in models[0]["features"]
    assert models[0]["patch_seconds"] == pytest.approx(3, abs=0.02)
    health = server.health()
    assert health["status"] == "ready" and health["catalog"]["songs"] == 4
    assert health["catalog"]["feature"] == "penultimate"


def test_unknown_routes_and_methods_answer_json(server):
    assert server.call("GET", "/v1/nothing-here").status == 404
    assert server.call("GET", "/v1/tag").status == 405


def test_similar_finds_a_songs_own_copy_first(server, music):
    joram = str(music["clips"][0])
    copy = str(music["library"] / "copy of joram.wav")
    answer = server.call("GET", "/v1/similar", path=joram, n=3)
    assert answer.status == 200, answer.error
    songs = answer.body["songs"]
    assert songs[0]["path"] == copy and songs[0]["similarity"] == pytest.approx(1, abs=1e-5)
    assert joram not in [song["path"] for song in songs] and len(songs) == 3
    assert songs[1]["similarity"] < 0.99  # the other songs are not the copy
    uploaded = server.call("POST", "/v1/similar", music["clips"][0].read_bytes(), n=2)
    assert uploaded.status == 200, uploaded.error
    assert {song["path"] for song in uploaded.body["songs"]} == {joram, copy}
    assert all(song["similarity"] == pytest.approx(1, abs=1e-5) for song in uploaded.body["songs"])


def test_similar_takes_a_songs_path_under_the_library_too(server, music):
    joram = music["clips"][0]
    by_catalog_path = server.call("GET", "/v1/similar", path=str(joram), n=3)
    by_library_path = server.call("GET", "/v1/similar", path=str(joram.relative_to(music["library"])), n=3)
    assert by_library_path.status == 200, by_library_path.error
    assert by_library_path.body == by_catalog_path.body
    assert server.call("GET", "/v1/similar", path="clips/none.wav").status == 404
    assert server.call("GET", "/v1/similar", path="../secret.wav").status == 404  # not a song of the catalog


def test_similar_and_search_refuse_what_is_not_there(server):
    assert server.call("GET", "/v1/similar", path="not/in/the/catalog.mp3").status == 404
    assert server.call("GET", "/v1/similar").status == 400
    assert server.call("GET", "/v1/similar", path="x", n="0").status == 400
    assert "not a tag of the catalog" in server.call("GET", "/v1/search", tag="polka").error
    assert server.call("GET", "/v1/search", tag="techno", min="2").status == 400


def test_search_lists_the_songs_whose_likelihood_passes_likeliest_first(server, music, tagger):
    likelihood = {str(clip): tagger.tag(clip).likelihoods[tagger.tags.index("techno")]
                  for clip in [*music["clips"], music["library"] / "copy of joram.wav"]}
    threshold = float(np.median(list(likelihood.values())))
    answer = server.call("GET", "/v1/search", tag="techno", min=str(threshold), limit="2")
    assert answer.status == 200, answer.error
    passing = sorted((path for path, value in likelihood.items() if value >= threshold),
                     key=lambda path: -likelihood[path])
    assert answer.body["total"] == len(passing)
    assert {song["path"] for song in answer.body["songs"]} <= set(passing)
    for song, best in zip(answer.body["songs"], passing[:2], strict=True):  # the likeliest (joram has a copy: a tie)
        assert song["likelihood"] == pytest.approx(likelihood[song["path"]], abs=1e-6)
        assert song["likelihood"] == pytest.approx(likelihood[best], abs=1e-6)


def test_the_catalog_is_read_again_when_its_file_changes(server, music):
    catalog = music["catalog"]
    original = catalog.read_bytes()
    lines = original.splitlines(keepends=True)
    try:
        grown = catalog.with_suffix(".grown")
        grown.write_bytes(original + lines[0].replace(b'"path": "', b'"path": "another/'))
        os.replace(grown, catalog)
        assert server.health()["catalog"]["songs"] == 5
        catalog.write_bytes(b"not json\n")  # a broken rewrite: the last good reading is kept
        assert server.health()["catalog"]["songs"] == 5
    finally:
        catalog.write_bytes(original)
    assert server.health()["catalog"]["songs"] == 4


def test_the_page_and_its_files_are_served_by_the_app(server):
    connection = server.connection()
    connection.request("GET", "/")
    page = connection.getresponse().read().decode()
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in page
        connection.request("GET", asset)
        response = connection.getresponse()
        assert response.status == 200 and len(response.read()) > 1000
    connection.close()
    assert "http://" not in page and "https://" not in page  # nothing from the network


@pytest.fixture(scope="module")
def guarded(music):
    """A server with a token (from MUSICNN_TOKEN), no library, room for one song at a time per model,
    MSD_musicnn as the default model, a survey model, and the catalog's MTT_musicnn loaded beside them."""
    args = ["--queue-size", "1", "--model", "MSD_musicnn", "--model", "Jamendo_musicnn",
            "--catalog", str(music["catalog"])]
    with running_server(args, music["root"], env={"MUSICNN_TOKEN": "s3cret"}) as server:
        yield server


def test_the_first_model_is_the_default_and_the_catalogs_model_is_loaded_too(guarded, music):
    models = guarded.call("GET", "/v1/models").body["models"]
    assert [(model["name"], model["default"]) for model in models] == [
        ("MSD_musicnn", True), ("Jamendo_musicnn", False), ("MTT_musicnn", False)]
    clip = music["clips"][0]
    assert guarded.tag(clip).body["likelihoods"].keys() == set(Tagger("MSD_musicnn").tags)
    assert guarded.tag(clip, model="MTT_musicnn").body["likelihoods"].keys() == set(Tagger("MTT_musicnn").tags)
    nearest = guarded.call("POST", "/v1/similar", clip.read_bytes(), n=1).body  # tagged with the catalog's model
    assert nearest["model"] == "MTT_musicnn" and nearest["songs"][0]["similarity"] == pytest.approx(1, abs=1e-5)


def test_a_survey_model_answers_as_its_tagger_does(guarded, music):
    clip = music["clips"][2]
    expected = Tagger("Jamendo_musicnn").tag(clip, input_overlap=0.5)
    record = guarded.tag(clip, model="Jamendo_musicnn", overlap="0.5", taggram="true").body
    assert list(record["likelihoods"]) == expected.tags and record["timestamps"] == pytest.approx(expected.timestamps)
    np.testing.assert_allclose(list(record["likelihoods"].values()), expected.likelihoods, atol=1e-6)
    np.testing.assert_allclose(record["taggram"], expected.taggram, atol=1e-6)


def test_every_api_call_needs_the_token(guarded, music):
    clip = music["clips"][0].read_bytes()
    for token in ("", "wrong"):
        headers = {"Authorization": f"Bearer {token}"} if token else {"Authorization": ""}
        for method, path, body in (("GET", "/v1/health", None), ("GET", "/v1/models", None),
                                   ("POST", "/v1/tag", clip), ("GET", "/v1/search", None)):
            answer = guarded.call(method, path, body, headers=headers)
            assert answer.status == 401, (method, path, answer.body)
            assert answer.headers["www-authenticate"] == "Bearer" and "Authorization: Bearer" in answer.error
    assert guarded.tag(clip).status == 200  # with the token
    connection = guarded.connection()
    connection.request("GET", "/")
    assert connection.getresponse().status == 200  # the page itself holds nothing: it asks for the token
    connection.close()


def test_path_needs_a_library(guarded):
    assert "no --library folder" in guarded.call("POST", "/v1/tag", path="a.mp3").error


def test_a_full_queue_answers_503_with_retry_after_and_the_rest_are_tagged(guarded, tagger):
    song = CLIPS["vibe_ace"].read_bytes()  # a minute of audio: the queue of one stays full a while
    with ThreadPoolExecutor(6) as clients:
        answers = list(clients.map(lambda _: guarded.tag(song), range(6)))
    statuses = sorted(answer.status for answer in answers)
    assert statuses[0] == 200 and statuses[-1] == 503, statuses
    assert set(statuses) == {200, 503}
    for answer in answers:
        if answer.status == 503:
            assert int(answer.headers["retry-after"]) >= 1 and "try again" in answer.error
    assert guarded.tag(song).status == 200


def test_sigterm_finishes_the_request_in_flight_then_exits(music, tagger):
    clip = CLIPS["muddy"]
    data = clip.read_bytes()
    with running_server([], music["root"]) as server:
        assert "this server has no catalog" in server.call("GET", "/v1/similar", path="a.mp3").error
        connection = server.connection()
        connection.putrequest("POST", "/v1/tag")
        connection.putheader("Content-Length", str(len(data)))
        connection.endheaders()
        connection.send(data[:len(data) // 2])
        time.sleep(0.5)  # the request is in the server's hands
        server.process.terminate()
        time.sleep(0.5)
        with pytest.raises(OSError):  # no new connections once stopping
            socket.create_connection(("127.0.0.1", server.port), timeout=2).close()
        connection.send(data[len(data) // 2:])
        answer = read_answer(connection.getresponse())
        connection.close()
        assert answer.status == 200
        assert_record_is_tag(answer.body, tagger.tag(clip))
        assert server.process.wait(timeout=30) == -signal.SIGTERM  # uvicorn exits by the signal, once done


def test_importing_the_package_does_not_import_the_service():
    code = ("import sys, musicnn_lite\n"
            "print(sorted({'musicnn_lite.service', 'starlette', 'uvicorn'} & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stderr


def test_bad_serve_options_are_one_line_and_exit_status_2(tmp_path):
    for args, message in ((["--model", "nope"], "unknown model 'nope'"),
                          (["--catalog", str(tmp_path / "missing.jsonl")], "cannot read the catalog"),
                          (["--library", str(tmp_path / "none")], "no such folder")):
        done = run_cli("serve", *args)
        assert done.returncode == 2, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr


def test_a_file_named_serve_is_still_tagged_as_dot_slash_serve(tmp_path):
    shutil.copy(CLIPS["joram"], tmp_path / "serve")
    done = run_cli("./serve", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "techno" in done.stdout
