"""Realistic English text for the OCR dev set (benchmarks/text_devset.py): written here.

Every string is built from the lists below and a ``random.Random`` so that a seed gives the
same text everywhere. Nothing is taken from the caption datasets. The characters stay within
``ALPHABET`` (ASCII plus a few typographic ones every font the dev set uses has), so what is
drawn is exactly what the truth says.
"""

from __future__ import annotations

import random
import string

# Everything any generated text may contain. The test checks that every dev-set font has a
# glyph for each of these (a missing glyph would draw a box the truth does not mention).
ALPHABET = frozenset(string.ascii_letters + string.digits + " .,:;!?'\"()-/&%+#@*=|_" + "’—€£°é")

FIRST_NAMES = (
    "Sarah",
    "James",
    "Priya",
    "Tom",
    "Aisha",
    "Daniel",
    "Mei",
    "Oliver",
    "Grace",
    "Mohammed",
    "Lucy",
    "Ben",
    "Chloe",
    "Samuel",
    "Hannah",
    "Ravi",
    "Emma",
    "Jack",
    "Sofia",
    "Liam",
    "Fatima",
    "Noah",
    "Isla",
    "Ethan",
    "Zara",
    "Harry",
    "Ava",
    "Leo",
    "Ruth",
    "Kwame",
    "Elena",
    "Marcus",
    "Nadia",
    "Owen",
    "Julia",
    "Arthur",
    "Maya",
    "Peter",
    "Rosa",
    "Felix",
)
SURNAMES = (
    "Patel",
    "Smith",
    "Okafor",
    "Jones",
    "Nguyen",
    "Williams",
    "Kowalski",
    "Brown",
    "Garcia",
    "Taylor",
    "Khan",
    "Davies",
    "Murphy",
    "Evans",
    "Schmidt",
    "Wilson",
    "Rossi",
    "Thompson",
    "Chen",
    "Walker",
    "Hughes",
    "Silva",
    "Robinson",
    "Ahmed",
    "Clarke",
    "Novak",
    "Wright",
    "Mensah",
    "Turner",
    "Lopez",
    "Green",
    "Ivanova",
    "Baker",
    "Hall",
    "Fischer",
    "Wood",
)
CITIES = (
    "London",
    "Manchester",
    "Bristol",
    "Leeds",
    "Glasgow",
    "Cardiff",
    "Edinburgh",
    "York",
    "Brighton",
    "Oxford",
    "Cambridge",
    "Norwich",
    "Dublin",
    "Lisbon",
    "Madrid",
    "Paris",
    "Berlin",
    "Amsterdam",
    "Rome",
    "Vienna",
    "Prague",
    "Copenhagen",
    "Boston",
    "Chicago",
    "Toronto",
    "Seattle",
    "Denver",
    "Austin",
    "Sydney",
    "Auckland",
)
STREETS = (
    "High Street",
    "Station Road",
    "Church Lane",
    "Mill Road",
    "Park Avenue",
    "Queen Street",
    "Victoria Road",
    "Green Lane",
    "Baker Street",
    "King's Road",
    "Orchard Close",
    "Riverside Walk",
    "Market Square",
    "Elm Grove",
    "Chapel Street",
    "North Parade",
    "Harbour View",
    "Oak Drive",
    "Bridge Street",
    "Albert Terrace",
)
MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# -- chat -------------------------------------------------------------------------------------

CHAT_MESSAGES = (
    "Running about ten minutes late, sorry!",
    "Can you pick up some milk on the way home?",
    "Are we still on for dinner tonight?",
    "Just landed, will call you from the taxi.",
    "Happy birthday! Hope you have a lovely day.",
    "The plumber is coming between 2 and 4 tomorrow.",
    "Did you see the email from school about the trip?",
    "I left my keys on the kitchen table, can you check?",
    "Thanks so much for yesterday, it was great to see you.",
    "What time does the match start?",
    "Mum says lunch is at 1 on Sunday.",
    "Traffic is terrible, take the back road.",
    "Do you want me to book the table for 7:30?",
    "Meeting moved to room 4B.",
    "Can you send me the photos from the weekend?",
    "On my way now.",
    "Yes please!",
    "No worries at all.",
    "Sounds good to me.",
    "I'll be outside in five minutes.",
    "Don't forget your umbrella, it's going to pour later.",
    "The parcel arrived, I put it in the shed.",
    "Have you fed the cat?",
    "Call me when you get a chance.",
    "Great news about the job, well done!",
    "The train is cancelled, getting the bus instead.",
    "Remember the bins go out tonight.",
    "Shall I bring anything?",
    "Could you move your car? You're blocking the drive.",
    "Doctor's appointment is on Thursday at 9:15.",
    "I found your glasses in the car.",
    "Love you, see you soon.",
    "Who is picking the kids up today?",
    "The wifi password is on the back of the router.",
    "Can't make it tonight, something came up.",
    "Let me know when you're home safe.",
    "We're at the café on the corner.",
    "Is the pharmacy open on Sundays?",
    "That film was brilliant, you have to watch it.",
    "How did the interview go?",
    "Ok, see you at the station.",
    "Just checking you got my last message.",
    "The heating is broken again.",
    "I've transferred the money for the tickets.",
    "Bring a jumper, it gets cold by the sea.",
    "Gate closes at 8:40, don't be late!",
    "Your order is ready to collect.",
    "Can we talk later? I'm in a meeting.",
    "Fantastic, thank you!",
    "Where did you park?",
)
CHAT_TIMES = (
    "08:12",
    "09:41",
    "10:05",
    "11:30",
    "12:47",
    "13:02",
    "14:18",
    "15:55",
    "17:20",
    "18:03",
    "19:44",
    "20:31",
    "21:09",
    "22:15",
)
CHAT_STATUS = ("online", "typing...", "last seen today at {time}", "last seen yesterday")

# -- UI: settings, dialogs ---------------------------------------------------------------------

SETTINGS_PAGES = {
    "Settings": (
        ("Wi-Fi", "{network}"),
        ("Bluetooth", "On"),
        ("Mobile data", "4G"),
        ("Notifications", "3 apps blocked"),
        ("Battery", "{percent}% - about {hours} hr left"),
        ("Display", "Dark theme, font size large"),
        ("Sound and vibration", "Ring volume 80%"),
        ("Storage", "{used} GB used of 128 GB"),
        ("Accessibility", "Screen reader, magnification"),
        ("Privacy", "Permissions, account activity"),
        ("Location", "On - 4 apps have access"),
        ("Security", "Screen lock, fingerprint"),
        ("Accounts", "Google, Microsoft"),
        ("System", "Languages, time, backup"),
        ("About phone", "Model XR-12"),
    ),
    "Network & internet": (
        ("Wi-Fi", "{network}"),
        ("Airplane mode", "Off"),
        ("Hotspot and tethering", "Off"),
        ("Data saver", "Off"),
        ("VPN", "None"),
        ("Private DNS", "Automatic"),
        ("Mobile network", "{carrier}"),
        ("Calls and SMS", "{carrier}"),
        ("SIM cards", "1 SIM"),
        ("Data usage", "{used} GB used this month"),
    ),
    "Display": (
        ("Brightness level", "{percent}%"),
        ("Adaptive brightness", "On"),
        ("Dark theme", "Will turn on automatically at sunset"),
        ("Font size", "Large"),
        ("Display size", "Default"),
        ("Screen timeout", "After 2 minutes of inactivity"),
        ("Auto-rotate screen", "Off"),
        ("Night Light", "Off - will never turn on"),
        ("Colours", "Natural"),
        ("Lock screen", "Show all notification content"),
    ),
    "Accessibility": (
        ("Screen reader", "On"),
        ("Select to Speak", "Off"),
        ("Text and display", ""),
        ("Magnification", "Triple-tap to zoom"),
        ("Colour correction", "Off"),
        ("Caption preferences", "Live captions on"),
        ("Sound amplifier", "Off"),
        ("Switch Access", "Off"),
        ("Timing controls", "Default"),
        ("High contrast text", "On"),
    ),
    "Privacy & security": (
        ("Location services", "On"),
        ("Camera access", "5 apps"),
        ("Microphone access", "3 apps"),
        ("Tracking", "Ask apps not to track"),
        ("Analytics", "Share with developers: Off"),
        ("Passwords", "27 saved"),
        ("Find my device", "On"),
        ("Software update", "Up to date"),
        ("Two-step verification", "Enabled"),
        ("App permissions", "Review recent changes"),
    ),
}
NETWORKS = (
    "HomeNetwork-5G",
    "Riverside_Guest",
    "TP-Link_4A2F",
    "BT-Hub-8830",
    "Office WiFi",
    "Library Free WiFi",
    "eduroam",
    "Flat 12",
)
CARRIERS = ("Vodafone UK", "O2 - UK", "EE", "Three", "Lyca Mobile", "giffgaff")

DIALOGS = (
    (
        "Save changes?",
        'Do you want to save the changes you made to "{doc}"? Your changes '
        "will be lost if you don't save them.",
        ("Don't Save", "Cancel", "Save"),
    ),
    (
        "Delete 3 items?",
        "These items will be moved to the bin. You can restore them within 30 days.",
        ("Cancel", "Delete"),
    ),
    (
        "Update available",
        "Version {version} is ready to install. The app will restart and reopen your open windows.",
        ("Later", "Install now"),
    ),
    (
        "Connection lost",
        "We couldn't reach the server. Check your internet connection and try again.",
        ("Retry",),
    ),
    (
        "Allow notifications?",
        "{app} would like to send you notifications about new messages and reminders.",
        ("Don't allow", "Allow"),
    ),
    (
        "Sign in required",
        'Your session has expired. Please sign in again to continue working on "{doc}".',
        ("Cancel", "Sign in"),
    ),
    (
        "Low battery",
        "{percent}% battery remaining. Connect your charger soon or turn on battery saver.",
        ("Dismiss", "Battery saver"),
    ),
    (
        "Replace file?",
        'A file named "{doc}" already exists in this folder. Replacing it will '
        "overwrite its contents.",
        ("Keep both", "Replace"),
    ),
    (
        "Printer offline",
        'The printer "Office LaserJet" is not responding. Make sure it is '
        "switched on and connected.",
        ("Cancel", "Try again"),
    ),
    (
        "Leave meeting?",
        "Others will be able to continue without you. You can rejoin at any "
        "time from the calendar invite.",
        ("Stay", "Leave"),
    ),
)
DOCUMENTS = (
    "Budget 2024.xlsx",
    "Holiday plans.docx",
    "Invoice 4471.pdf",
    "Notes.txt",
    "Report draft v3.docx",
    "Recipe book.pdf",
    "Photos backup.zip",
    "CV final.docx",
)
APPS = ("Calendar", "Messages", "Mail", "Weather", "Bank", "Bus Times", "Fitness", "Photos")
CHECKBOXES = ("Don't ask me again", "Remember my choice", "Apply to all items")

# -- web pages, documents ----------------------------------------------------------------------

SITES = (
    (
        "Riverside Gazette",
        "riverside-gazette.co.uk",
        ("News", "Sport", "Weather", "Culture", "Opinion", "Local"),
    ),
    (
        "The Daily Kitchen",
        "dailykitchen.com",
        ("Recipes", "Quick meals", "Baking", "Vegetarian", "Reviews"),
    ),
    (
        "Green Valley Council",
        "greenvalley.gov.uk",
        ("Bins and recycling", "Parking", "Council tax", "Libraries", "Contact us"),
    ),
    ("TravelNotes", "travelnotes.net", ("Destinations", "Guides", "Deals", "Tips", "Forum")),
    ("HealthWise", "healthwise.org", ("Conditions", "Medicines", "Healthy living", "Services")),
    (
        "TechHelp Centre",
        "help.techcentre.com",
        ("Getting started", "Accounts", "Billing", "Troubleshooting", "Community"),
    ),
)
HEADLINES = (
    "New cycle lane on {street} opens next month",
    "Local bakery wins national award for its sourdough",
    "Library extends opening hours over the summer holidays",
    "Ten easy dinners you can make in under thirty minutes",
    "How to reset your password in three simple steps",
    "Heavy rain expected across {city} this weekend",
    "Community garden looks for volunteers",
    "A weekend in {city}: where to eat, stay and walk",
    "What to do if your bin was not collected",
    "Council confirms new opening times for the recycling centre",
    "Five ways to get a better night's sleep",
    "School choir raises money for the children's hospital",
    "Roadworks on {street} to last until {month}",
    "Why your phone battery drains faster in cold weather",
    "Farmers' market returns to {street} every Saturday",
    "Train timetable changes from {weekday} {day} {month}",
)
ARTICLE_SENTENCES = (
    "The work is expected to take around six weeks and will be carried out in stages.",
    "Residents have been asked to share their views before the end of the month.",
    "A spokesperson said the project had been planned for more than two years.",
    "Parking will be limited during the day, but access for residents will be kept.",
    "More information is available at the town hall or on the council website.",
    "Volunteers meet every Tuesday morning and no experience is needed.",
    "The team hopes to open a second site in the spring if funding allows.",
    "Tickets cost £5 for adults and children under twelve go free.",
    "Organisers thanked everyone who came along despite the weather.",
    "The new service runs every fifteen minutes between 7am and 7pm.",
    "Start by preheating the oven to 200°C and lining a baking tray.",
    "Chop the onions finely and fry them gently until soft and golden.",
    "Season with salt and pepper, then add the stock and bring to the boil.",
    "Leave the dough to rise in a warm place for about an hour.",
    "Serve straight away with crusty bread or a green salad.",
    "Open the app and tap your profile picture in the top right corner.",
    "Choose Security, then select Change password from the list.",
    "You will receive a code by text message within a few minutes.",
    "If the code does not arrive, check that your phone number is correct.",
    "Restart the device and try again before contacting support.",
    "Most people need between seven and nine hours of sleep each night.",
    "Try to keep a regular routine, even at weekends.",
    "Avoid screens for an hour before bed and keep the bedroom cool.",
    "Speak to your pharmacist if you are unsure which medicine to take.",
    "Drink plenty of water and rest until the symptoms pass.",
    "The old town is best explored on foot, and most sights are close together.",
    "Trams run late into the evening and a day ticket covers the whole network.",
    "Book the museum in advance, as queues can be long in the summer.",
    "The market sells fresh fruit, local cheese and hot pastries from early morning.",
    "Bring comfortable shoes: the hill up to the castle is steep in places.",
    "Bins should be left at the edge of your property by 7am on collection day.",
    "Garden waste is collected every two weeks from March to November.",
    "Please rinse bottles and cans before putting them in the recycling.",
    "If your collection was missed, report it within two working days.",
    "Large items such as furniture can be collected for a small charge.",
    "The choir has rehearsed every week since January for the concert.",
    "Everyone is welcome, and there will be tea and cake afterwards.",
    "The forecast shows strong winds along the coast on Saturday afternoon.",
    "Temperatures will drop to around 3°C overnight, with a risk of frost.",
    "Drivers are advised to allow extra time for their journeys.",
    "Applications close at midnight on the last Friday of the month.",
    "You can pay online, by phone or in person at any post office.",
    "Keep your receipt, as you may need it to claim a refund.",
    "The building has step-free access and a hearing loop at reception.",
    "Children must be accompanied by an adult at all times.",
)
DOC_TITLES = (
    "Tenancy agreement: house rules",
    "Annual report of the residents' association",
    "Guidance for new volunteers",
    "Terms and conditions of membership",
    "Notice to all residents",
    "Meeting minutes, {weekday} {day} {month}",
    "How to apply for a parking permit",
    "Health and safety information",
)
DOC_HEADINGS = (
    "Introduction",
    "Who can apply",
    "What you need to do",
    "Payments and refunds",
    "Keeping safe",
    "Contact details",
    "Next steps",
    "Summary",
    "Opening times",
    "Your responsibilities",
    "Changes to this notice",
    "Frequently asked questions",
)
DOC_SENTENCES = ARTICLE_SENTENCES + (
    "This document explains what we expect from everyone who uses the building.",
    "Please read it carefully and keep a copy for your records.",
    "The committee meets on the first Monday of each month in the main hall.",
    "Membership fees are due on the first of April and can be paid in two parts.",
    "Any damage must be reported to the office as soon as possible.",
    "Smoking is not allowed anywhere inside the building or on the balconies.",
    "Quiet hours are from 11pm to 7am every day of the week.",
    "Fire doors must be kept closed and the corridors kept clear.",
    "Visitors are welcome but should sign the book at the front desk.",
    "We will write to you at least four weeks before any change takes effect.",
    "The minutes of the last meeting were read and agreed without changes.",
    "The treasurer reported that the accounts are in good order.",
    "It was agreed to repaint the entrance hall before the winter.",
    "Questions about this notice should be sent to the secretary.",
)

# -- letters -----------------------------------------------------------------------------------

LETTER_OPENINGS = (
    "Thank you for your letter of {day} {month}, which we received last week.",
    "I am writing to confirm the details of your appointment on {weekday} {day} {month}.",
    "We are pleased to tell you that your application has been approved.",
    "I am writing about the repairs to the roof of the property at {number} {street}.",
    "Following our telephone conversation, I enclose the forms you asked for.",
    "Your annual review is now due and we would like to arrange a visit.",
)
LETTER_SENTENCES = (
    "Please bring this letter and a form of photo identification with you.",
    "If you need to change the date, call us on 0161 496 0732 between 9am and 5pm.",
    "The appointment will take about forty minutes.",
    "We have arranged for an engineer to visit within the next ten working days.",
    "There is no charge for this service.",
    "Please make sure someone over eighteen is at home on the day.",
    "Your reference number is {ref}; please quote it whenever you contact us.",
    "We will send written confirmation once the work has been completed.",
    "If you have any questions, do not hesitate to get in touch.",
    "A large-print or audio copy of this letter is available on request.",
    "The enclosed leaflet explains what happens next.",
    "You do not need to do anything else at this stage.",
)
LETTER_CLOSINGS = ("Yours sincerely,", "Yours faithfully,", "Kind regards,", "Best wishes,")
ORGANISATIONS = (
    "Riverside Housing Trust",
    "Northgate Medical Practice",
    "City Water Services",
    "Green Valley Council",
    "St Mary's Primary School",
    "Harbour Dental Care",
)

# -- menus -------------------------------------------------------------------------------------

RESTAURANTS = (
    "The Olive Tree",
    "Harbour Kitchen",
    "Blue Door Café",
    "The Red Lion",
    "Spice Garden",
    "Luca's Trattoria",
    "The Corner Bistro",
)
MENU_SECTIONS = {
    "Starters": (
        ("Soup of the day", "with warm bread and butter"),
        ("Garlic mushrooms", "on toasted sourdough"),
        ("Crispy calamari", "lemon and herb mayonnaise"),
        ("Tomato bruschetta", "basil, olive oil, sea salt"),
        ("Chicken wings", "smoky barbecue glaze"),
        ("Halloumi fries", "with sweet chilli dip"),
    ),
    "Mains": (
        ("Fish and chips", "beer-battered cod, mushy peas, tartare sauce"),
        ("Steak and ale pie", "mash, seasonal greens, gravy"),
        ("Mushroom risotto", "parmesan, truffle oil"),
        ("Chicken curry", "basmati rice, naan bread"),
        ("Beef burger", "cheddar, pickles, skin-on fries"),
        ("Roast vegetable lasagne", "side salad"),
        ("Pan-fried salmon", "new potatoes, green beans"),
    ),
    "Desserts": (
        ("Sticky toffee pudding", "vanilla ice cream"),
        ("Chocolate brownie", "with cream"),
        ("Lemon tart", "raspberry sorbet"),
        ("Apple crumble", "hot custard"),
        ("Cheese board", "crackers, chutney, grapes"),
    ),
    "Drinks": (
        ("Fresh orange juice", ""),
        ("Sparkling water", ""),
        ("House red wine", "175 ml"),
        ("Local pale ale", "pint"),
        ("Pot of tea", ""),
        ("Flat white", ""),
    ),
}

# -- tickets, receipts -------------------------------------------------------------------------

AIRPORTS = (
    ("London Gatwick", "LGW"),
    ("Lisbon", "LIS"),
    ("Manchester", "MAN"),
    ("Amsterdam", "AMS"),
    ("Edinburgh", "EDI"),
    ("Madrid", "MAD"),
    ("Dublin", "DUB"),
    ("Berlin", "BER"),
    ("Rome Fiumicino", "FCO"),
    ("Copenhagen", "CPH"),
)
AIRLINES = ("SkyBlue Air", "Northern Wings", "EuroJet", "Atlantic Airways")
STATIONS = (
    "London Euston",
    "Birmingham New Street",
    "Manchester Piccadilly",
    "Leeds",
    "York",
    "Bristol Temple Meads",
    "Edinburgh Waverley",
    "Cardiff Central",
)
EVENTS = (
    "Summer Jazz Festival",
    "City Symphony Orchestra",
    "Comedy Night",
    "Football: United v Rovers",
    "The Nutcracker",
    "Science Museum Late",
)
SHOPS = (
    "Corner Shop Express",
    "FreshMart",
    "Green Grocer Co.",
    "Daily Bread Bakery",
    "Town Pharmacy",
    "Bean There Coffee",
)
SHOP_ITEMS = (
    ("Semi-skimmed milk 2L", 1.45),
    ("Wholemeal bread", 1.20),
    ("Free range eggs x6", 2.10),
    ("Bananas", 0.95),
    ("Cheddar cheese 400g", 3.50),
    ("Orange juice 1L", 1.80),
    ("Pasta 500g", 0.89),
    ("Chopped tomatoes", 0.65),
    ("Apples x4", 1.60),
    ("Coffee beans 250g", 4.25),
    ("Paracetamol 16", 0.79),
    ("Toothpaste", 2.30),
    ("Flat white", 3.40),
    ("Croissant", 2.20),
    ("Porridge", 3.10),
    ("Tea", 2.00),
    ("Sourdough loaf", 3.95),
    ("Dishwasher tablets", 5.00),
    ("Chicken breast 500g", 4.80),
    ("Greek yoghurt", 1.75),
)

# -- signs and labels on photos ----------------------------------------------------------------

SIGNS = (
    ("EXIT",),
    ("NO PARKING",),
    ("Platform 3",),
    ("KEEP LEFT",),
    ("PUSH",),
    ("PULL",),
    ("Fresh bread daily",),
    ("OPEN", "7 days a week"),
    ("CAUTION", "Wet floor"),
    ("Toilets",),
    ("Way out",),
    ("STOP",),
    ("Private property", "No entry"),
    ("Bus stop",),
    ("Please close the gate",),
    ("Car park full",),
    ("Reception",),
    ("Fire exit", "Keep clear"),
    ("Sale", "Up to 50% off"),
    ("Coffee", "Tea", "Cakes"),
    ("Welcome to {city}",),
    ("{street}",),
    ("Closed for refurbishment",),
    ("Dogs must be kept on a lead",),
    ("Slow", "Children playing"),
    ("Opening hours", "Mon-Fri 9am - 5pm"),
    ("Free wifi",),
    ("Mind the step",),
    ("Lift out of order",),
    ("Staff only",),
    ("Pay here",),
    ("Ticket office",),
    ("No smoking",),
    ("Beware of the dog",),
    ("Cycle route",),
    ("Town centre",),
    ("Visitor parking",),
    ("Deliveries", "Rear entrance"),
    ("Quiet zone",),
    ("Please wait to be seated",),
)
LABELS = (
    ("Organic whole milk", "1 litre"),
    ("Best before", "{day} {mon} {year}"),
    ("Strawberry jam", "340g"),
    ("Extra virgin olive oil",),
    ("Keep refrigerated",),
    ("Handle with care", "Fragile"),
    ("Apples", "£1.20 per kg"),
    ("Tomatoes", "3 for £1"),
    ("Sunflower seeds",),
    ("Basmati rice", "1kg"),
    ("Dark roast coffee",),
    ("Room 214",),
    ("Meeting room B",),
    ("Flat {number}",),
    ("Return to sender",),
)
SHOP_SIGNS = (
    "{name}'s Bakery",
    "The {street_word} Café",
    "{city} Books",
    "Pharmacy",
    "Hair by {name}",
    "{name} & Sons Hardware",
    "Fish & Chips",
    "Pizza Express",
    "Post Office",
    "Launderette",
    "Florist",
    "Newsagent",
)
STREET_WORDS = ("Corner", "Market", "Harbour", "Garden", "Station", "Village", "Riverside")


def _fill(template: str, rng: random.Random) -> str:
    """A template's {slots} filled with plausible values."""
    month = rng.choice(MONTHS)
    values = {
        "city": rng.choice(CITIES),
        "street": rng.choice(STREETS),
        "month": month,
        "mon": month[:3].upper(),
        "weekday": rng.choice(WEEKDAYS),
        "day": str(rng.randint(1, 28)),
        "year": str(rng.randint(2024, 2027)),
        "number": str(rng.randint(1, 120)),
        "name": rng.choice(FIRST_NAMES),
        "street_word": rng.choice(STREET_WORDS),
        "network": rng.choice(NETWORKS),
        "carrier": rng.choice(CARRIERS),
        "percent": str(rng.randint(12, 98)),
        "hours": str(rng.randint(2, 19)),
        "used": str(rng.randint(18, 110)),
        "doc": rng.choice(DOCUMENTS),
        "app": rng.choice(APPS),
        "version": f"{rng.randint(2, 14)}.{rng.randint(0, 9)}.{rng.randint(0, 20)}",
        "ref": f"{rng.choice('ABCDHKMR')}{rng.choice('ABCDHKMR')}{rng.randint(100000, 999999)}",
        "time": rng.choice(CHAT_TIMES),
    }
    return template.format(**values)


def person(rng: random.Random) -> str:
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(SURNAMES)}"


def date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28)} {rng.choice(MONTHS)} {rng.randint(2024, 2026)}"


def money(value: float, currency: str = "£") -> str:
    return f"{currency}{value:.2f}"


class Deck:
    """Sentences dealt in random order without repeats (reshuffled once all are used), so a
    page never says the same sentence twice."""

    def __init__(self, rng: random.Random, sentences: tuple[str, ...]):
        self.rng = rng
        self.sentences = sentences
        self.left: list[str] = []

    def deal(self) -> str:
        if not self.left:
            self.left = list(self.sentences)
            self.rng.shuffle(self.left)
        return _fill(self.left.pop(), self.rng)

    def paragraph(self, n: tuple[int, int]) -> str:
        """n[0]..n[1] sentences."""
        return " ".join(self.deal() for _ in range(self.rng.randint(*n)))


def chat_message(rng: random.Random) -> str:
    return rng.choice(CHAT_MESSAGES)


def headline(rng: random.Random) -> str:
    return _fill(rng.choice(HEADLINES), rng)


def doc_title(rng: random.Random) -> str:
    return _fill(rng.choice(DOC_TITLES), rng)


def settings_page(rng: random.Random, rows: int) -> tuple[str, list[tuple[str, str]]]:
    """A settings page's title and (label, value) rows in their on-screen order."""
    title = rng.choice(sorted(SETTINGS_PAGES))
    entries = SETTINGS_PAGES[title]
    start = rng.randint(0, max(0, len(entries) - rows))
    return title, [(label, _fill(value, rng)) for label, value in entries[start : start + rows]]


def dialog(rng: random.Random) -> tuple[str, str, tuple[str, ...]]:
    title, message, buttons = rng.choice(DIALOGS)
    return _fill(title, rng), _fill(message, rng), buttons


def sign(rng: random.Random) -> list[str]:
    """A sign, label or shop front's lines (1-3)."""
    pick = rng.random()
    if pick < 0.55:
        lines = rng.choice(SIGNS)
    elif pick < 0.8:
        lines = rng.choice(LABELS)
    else:
        lines = (rng.choice(SHOP_SIGNS),)
    return [_fill(line, rng) for line in lines]


def filled(template: str, rng: random.Random) -> str:
    return _fill(template, rng)
