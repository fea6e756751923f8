"""The demo magazine's articles and products: fixed data, so pages render the same every time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Article:
    slug: str
    title: str
    dek: str
    author: str
    date: str  # ISO date
    minutes: int
    # Hero illustration: sky top/bottom, ridge colours (drawn as inline SVG, no image files).
    palette: tuple[str, str, str, str]
    video_id: str
    video_title: str
    # Paragraphs; "{km:12.5}" marks a distance the preferences script can show in miles.
    body: tuple[str, ...]
    tag: str = "Routes"


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    blurb: str
    price_eur: int
    palette: tuple[str, str, str, str]
    badge: str = ""


ARTICLES: tuple[Article, ...] = (
    Article(
        slug="ridge-walks-for-short-days",
        title="Five ridge walks for short autumn days",
        dek="Big views, early finishes: routes that fit between a late sunrise and an early dusk.",
        author="Maren Holt",
        date="2026-10-14",
        minutes=7,
        palette=("#f6c28b", "#f9e3c4", "#6b4f3f", "#2f2a28"),
        video_id="ridge-day",
        video_title="A day on the Kestrel ridge",
        body=(
            "Autumn squeezes the walking day from both ends. The trick is to pick a line where the "
            "effort comes early and the reward lasts: a steep pull to the crest, then level ground "
            "with the light behind you.",
            "Our favourite is the Kestrel ridge, {km:12.5} from the village car park and back, with "
            "a single steep section in the first hour. After that the path stays within a few "
            "metres of the crest for {km:4.2}.",
            "If the cloud is down, the lower traverse below the crags is a fine alternative: "
            "{km:9.8} on a well-marked track, with a bothy halfway for lunch out of the wind.",
            "Whatever you choose, pack a head torch even if you plan to be down by four. Days are "
            "shorter than the map makes them look.",
        ),
    ),
    Article(
        slug="how-we-test-rain-shells",
        title="How we test rain shells",
        dek="A shower head, a treadmill and three very wet weekends in the hills.",
        author="Idris Vale",
        date="2026-10-02",
        minutes=9,
        palette=("#9fb8c8", "#dfe9ef", "#3f5866", "#1f2d36"),
        video_id="shell-lab",
        video_title="Inside the shell-testing lab",
        body=(
            "Every jacket in our guide spends two hours under a calibrated shower head while a "
            "tester walks at a steady 5 km/h on a treadmill with a loaded pack.",
            "We then take each one on the same {km:18} loop in real weather, swapping jackets at "
            "the halfway hut so conditions stay comparable.",
            "Breathability matters as much as waterproofing: a shell that keeps rain out but traps "
            "sweat leaves you just as wet by the summit.",
        ),
        tag="Gear lab",
    ),
    Article(
        slug="stove-care-in-ten-minutes",
        title="Camp stove care in ten minutes",
        dek="Clean jets, happy pots: a simple routine before every trip.",
        author="Sofia Lund",
        date="2026-09-21",
        minutes=4,
        palette=("#2b3a55", "#5d6f8f", "#2c4a3e", "#142620"),
        video_id="stove-care",
        video_title="Stove maintenance, step by step",
        body=(
            "Most stove failures in the field come from a blocked jet or a perished O-ring, and "
            "both take minutes to check at home.",
            "Unscrew the burner head, clear the jet with the pricker from the repair kit, and "
            "inspect the seals for cracks. Replace them every season whether they look worn or not.",
            "Finally, run the stove for a minute outdoors. A steady blue flame means you are ready "
            "for the {km:30} of the coast path we walked last month.",
        ),
        tag="Skills",
    ),
    Article(
        slug="reading-a-map-without-the-app",
        title="Reading a map without the app",
        dek="Contours, handrails and catching features: navigation that works when the battery doesn't.",
        author="Maren Holt",
        date="2026-09-05",
        minutes=11,
        palette=("#c9d7b8", "#eef3e6", "#55704a", "#2d4228"),
        video_id="map-skills",
        video_title="Contours explained in three minutes",
        body=(
            "A phone is a brilliant navigation tool until it is cold, wet or flat. A paper map and "
            "a compass never need charging.",
            "Start with handrails: linear features such as walls, streams or forest edges that "
            "lead where you want to go. Follow one for {km:2.5} and you have navigated without "
            "taking a single bearing.",
            "Add a catching feature beyond your target, a road or a lake shore, and you will know "
            "the moment you have gone too far.",
        ),
        tag="Skills",
    ),
)

PRODUCTS: tuple[Product, ...] = (
    Product(
        sku="RL-SHELL-2",
        name="Ridgeline Storm Shell",
        blurb="Three-layer waterproof jacket, 340 g, pit zips.",
        price_eur=289,
        palette=("#dfe9ef", "#9fb8c8", "#355c7d", "#1f3b4d"),
        badge="Editors' pick",
    ),
    Product(
        sku="RL-STOVE-1",
        name="Emberline Canister Stove",
        blurb="Boils a litre in 3 min 40 s, piezo ignition.",
        price_eur=64,
        palette=("#f9e3c4", "#f6c28b", "#c8762b", "#6b3f1f"),
    ),
    Product(
        sku="RL-PACK-30",
        name="Cairn 30 Daypack",
        blurb="30 litres, ventilated back, rain cover included.",
        price_eur=129,
        palette=("#eef3e6", "#c9d7b8", "#55704a", "#2d4228"),
        badge="New",
    ),
    Product(
        sku="RL-LAMP-4",
        name="Lumen 400 Head Torch",
        blurb="400 lm, red night mode, USB-C rechargeable.",
        price_eur=49,
        palette=("#5d6f8f", "#2b3a55", "#f2d16b", "#1a2233"),
    ),
    Product(
        sku="RL-POLE-2",
        name="Scree Carbon Poles",
        blurb="Pair of folding carbon poles, 390 g.",
        price_eur=139,
        palette=("#e8e1d5", "#cbbfa9", "#7a6a55", "#3d352b"),
    ),
    Product(
        sku="RL-MAP-7",
        name="Kestrel Hills 1:25 000 Map",
        blurb="Waterproof sheet, the ridge walks from our autumn issue.",
        price_eur=16,
        palette=("#f4f1e6", "#dcd3b8", "#8aa17a", "#4d6b45"),
    ),
)


def article(slug: str) -> Article | None:
    return next((a for a in ARTICLES if a.slug == slug), None)
