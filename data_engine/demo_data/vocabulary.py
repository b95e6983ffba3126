"""Fixed word lists and category definitions the demo data draws from.

Everything here is invented for the demo (brand names included) and constant, so that the same seed gives
the same bytes on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    """One product category: its segment group, typical list price and the nouns its titles use."""

    name: str
    group: str
    median_price: float
    share: float  # share of the catalogue and of global demand
    nouns: tuple[str, ...]
    has_color: bool = True


CATEGORIES: tuple[Category, ...] = (
    Category("electronics", "tech", 79.0, 0.10, ("headphones", "speaker", "charger", "smartwatch", "camera",
                                                  "earbuds", "power bank", "projector")),
    Category("computers", "tech", 59.0, 0.08, ("keyboard", "mouse", "monitor", "laptop stand", "webcam",
                                                "ssd drive", "usb hub", "router")),
    Category("kitchen", "home", 39.0, 0.10, ("blender", "kettle", "knife set", "frying pan", "coffee grinder",
                                              "toaster", "cutting board", "food container")),
    Category("home", "home", 34.0, 0.09, ("lamp", "cushion", "rug", "curtain", "vase", "throw blanket",
                                           "mirror", "storage basket")),
    Category("garden", "home", 44.0, 0.05, ("hose", "planter", "pruning shears", "grill", "garden chair",
                                             "watering can", "solar light")),
    Category("clothing", "style", 29.0, 0.12, ("t-shirt", "hoodie", "jacket", "jeans", "dress", "sweater",
                                                "scarf", "shorts")),
    Category("shoes", "style", 64.0, 0.06, ("sneakers", "boots", "sandals", "loafers", "running shoes",
                                             "slippers")),
    Category("beauty", "style", 17.0, 0.08, ("serum", "shampoo", "lipstick", "moisturizer", "perfume",
                                              "face mask", "hair oil"), has_color=False),
    Category("sports", "leisure", 36.0, 0.07, ("yoga mat", "dumbbell set", "water bottle", "tennis racket",
                                                "cycling gloves", "jump rope", "resistance band")),
    Category("toys", "leisure", 24.0, 0.06, ("puzzle", "building set", "plush toy", "board game",
                                              "remote car", "doll house", "card game")),
    Category("books", "leisure", 14.0, 0.09, ("novel", "cookbook", "travel guide", "notebook", "comic",
                                               "biography", "poetry collection"), has_color=False),
    Category("grocery", "leisure", 9.0, 0.10, ("coffee beans", "green tea", "olive oil", "dark chocolate",
                                                "granola", "pasta sauce", "honey"), has_color=False),
)

SEGMENTS: tuple[str, ...] = ("tech", "home", "style", "leisure")

# Invented brand names, eight per segment group.
BRANDS_BY_GROUP: dict[str, tuple[str, ...]] = {
    "tech": ("Voltrix", "Nebulon", "Quarkly", "Ampere & Co", "Pixelhaven", "Zentro", "Circuita", "Lumo"),
    "home": ("Hearthwell", "Oakbright", "Casamora", "Linden Lane", "Potterby", "Verdana Home", "Nestly",
             "Brightfield"),
    "style": ("Maison Tull", "Urbano", "Silkroute", "Velvetine", "North & Pine", "Solea", "Glowen", "Kintsu"),
    "leisure": ("Playforge", "Trailmark", "Paperkite", "Bramble Books", "Summit Gear", "Harvest Table",
                "Wildberry", "Fable & Fox"),
}

ADJECTIVES: tuple[str, ...] = ("classic", "compact", "premium", "essential", "deluxe", "everyday", "modern",
                               "lightweight", "eco", "pro", "vintage", "smart", "ultra", "soft", "rugged")
COLORS: tuple[str, ...] = ("black", "white", "grey", "blue", "red", "green", "beige", "pink", "silver")
TAGS: tuple[str, ...] = ("eco", "bestseller", "new", "gift", "limited", "bundle", "refurbished", "handmade")
TAG_RATES: tuple[float, ...] = (0.12, 0.08, 0.15, 0.10, 0.04, 0.05, 0.03, 0.04)

FEATURES: tuple[str, ...] = (
    "Built to last with a reinforced frame.",
    "Designed for daily use at home or on the go.",
    "Easy to clean and simple to store.",
    "Made from responsibly sourced materials.",
    "Comes with a two-year warranty.",
    "A customer favourite for its comfort and finish.",
    "Tested for safety and durability.",
    "Its slim profile fits anywhere.",
    "Energy saving and quiet in use.",
    "Available in several sizes and finishes.",
)
USAGES: tuple[str, ...] = (
    "Perfect as a gift.",
    "Great for beginners and experts alike.",
    "Pairs well with the rest of the range.",
    "Ships in recyclable packaging.",
    "Ideal for small spaces.",
    "Loved by families.",
    "A reliable everyday companion.",
    "Upgrade your routine today.",
)

# Review sentences by sentiment (0 negative, 1 neutral, 2 positive); "{}" is the product noun.
REVIEW_OPENERS: tuple[tuple[tuple[str, str], ...], ...] = (
    (("Very disappointed with this ", "."), ("This ", " broke after a week."), ("Poor quality ", ", sadly."),
     ("The ", " looked nothing like the photos."), ("Would not buy this ", " again."),
     ("My ", " stopped working almost at once.")),
    (("The ", " is okay for the price."), ("It is an average ", "."), ("This ", " does the job."),
     ("Decent ", " but nothing special."), ("The ", " is fine, with a few flaws.")),
    (("Love this ", "!"), ("Great ", " for the price."), ("This ", " exceeded my expectations."),
     ("Excellent ", ", works perfectly."), ("Best ", " I have owned."), ("Really happy with the ", ".")),
)
REVIEW_DETAILS: tuple[tuple[str, ...], ...] = (
    ("Customer service was slow to answer.", "The materials feel cheap.", "It arrived damaged.",
     "Half of it did not work.", "Returned it the next day.", "Smells strange and feels flimsy."),
    ("Delivery took a while.", "Setup was a bit confusing.", "The size runs slightly small.",
     "Looks nicer in the pictures.", "Some parts could be sturdier."),
    ("Delivery was fast.", "Solid build and looks great.", "Easy to use from day one.",
     "My whole family uses it.", "Worth every cent.", "Quality is better than expected."),
)
REVIEW_CLOSERS: tuple[tuple[str, ...], ...] = (
    ("Avoid.", "Not recommended.", "Waste of money.", "I want a refund."),
    ("Might buy again.", "Three stars.", "It will do.", "Okay overall."),
    ("Highly recommended!", "Will buy again.", "Five stars.", "Already ordered a second one."),
)
REVIEW_TITLES: tuple[tuple[str, ...], ...] = (
    ("Terrible", "Disappointed", "Do not buy", "Broke quickly", "Not as described"),
    ("Okay", "Average", "It's fine", "Mixed feelings"),
    ("Great buy", "Love it", "Excellent", "Perfect", "Very happy"),
)

REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central", "coast", "mountain", "islands")
REGION_SHARES: tuple[float, ...] = (0.2, 0.18, 0.15, 0.15, 0.12, 0.1, 0.06, 0.04)
GENDERS: tuple[str, ...] = ("female", "male", "other")
GENDER_SHARES: tuple[float, ...] = (0.52, 0.45, 0.03)
ACQUISITION: tuple[str, ...] = ("organic", "search", "social", "referral", "email", "ads")
ACQUISITION_SHARES: tuple[float, ...] = (0.3, 0.25, 0.15, 0.1, 0.08, 0.12)
CHANNELS: tuple[str, ...] = ("web", "app", "store", "phone")
CHANNEL_SHARES: tuple[float, ...] = (0.45, 0.3, 0.2, 0.05)
PAYMENTS: tuple[str, ...] = ("card", "paypal", "gift_card", "invoice")
PAYMENT_SHARES: tuple[float, ...] = (0.6, 0.25, 0.05, 0.1)
DEVICES: tuple[str, ...] = ("desktop", "mobile", "tablet")
DEVICE_SHARES: tuple[float, ...] = (0.4, 0.5, 0.1)
REFERRERS: tuple[str, ...] = ("direct", "search", "email", "social", "ads")
REFERRER_SHARES: tuple[float, ...] = (0.35, 0.3, 0.12, 0.13, 0.1)
