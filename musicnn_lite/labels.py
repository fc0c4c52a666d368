"""Tag vocabularies of the published models, in the order of their output units."""

MTT_LABELS = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock",
    "fast", "piano", "ambient", "beat", "violin", "vocal", "synth", "female", "indian",
    "opera", "male", "singing", "vocals", "no vocals", "harpsichord", "loud", "quiet",
    "flute", "woman", "male vocal", "no vocal", "pop", "soft", "sitar", "solo", "man",
    "classic", "choir", "voice", "new age", "dance", "male voice", "female vocal",
    "beats", "harp", "cello", "no voice", "weird", "country", "metal", "female voice",
    "choral",
)

MSD_LABELS = (
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance",
    "00s", "alternative rock", "jazz", "beautiful", "metal", "chillout", "male vocalists",
    "classic rock", "soul", "indie rock", "Mellow", "electronica", "80s", "folk", "90s",
    "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient", "acoustic",
    "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country",
    "easy listening", "sexy", "catchy", "funk", "electro", "heavy metal",
    "Progressive rock", "60s", "rnb", "indie pop", "sad", "House", "happy",
)

# MTG-Jamendo's top-50 tags as the survey's checkpoints output them: its loader binarised the tags with
# scikit-learn's LabelBinarizer, whose columns are the sorted tag names.
JAMENDO_LABELS = (
    "genre---alternative", "genre---ambient", "genre---atmospheric", "genre---chillout", "genre---classical",
    "genre---dance", "genre---downtempo", "genre---easylistening", "genre---electronic", "genre---experimental",
    "genre---folk", "genre---funk", "genre---hiphop", "genre---house", "genre---indie",
    "genre---instrumentalpop", "genre---jazz", "genre---lounge", "genre---metal", "genre---newage",
    "genre---orchestral", "genre---pop", "genre---popfolk", "genre---poprock", "genre---reggae",
    "genre---rock", "genre---soundtrack", "genre---techno", "genre---trance", "genre---triphop",
    "genre---world", "instrument---acousticguitar", "instrument---bass", "instrument---computer",
    "instrument---drummachine", "instrument---drums", "instrument---electricguitar",
    "instrument---electricpiano", "instrument---guitar", "instrument---keyboard", "instrument---piano",
    "instrument---strings", "instrument---synthesizer", "instrument---violin", "instrument---voice",
    "mood/theme---emotional", "mood/theme---energetic", "mood/theme---film", "mood/theme---happy",
    "mood/theme---relaxing",
)

LABELS_BY_DATASET = {"MTT": MTT_LABELS, "MSD": MSD_LABELS, "Jamendo": JAMENDO_LABELS}
