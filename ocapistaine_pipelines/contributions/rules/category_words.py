"""The vocabulary of the seven categories: data only (the logic is in ``categories.py``).

How to add a word: add it to its category's list, in lower case without accents (as the text is
folded: ``text.fold_text``). A single word is a stem: it matches every word that starts with it
("touris" finds tourisme, touristes), except words of three letters or fewer and those in
``EXACT_WORDS``, which match only themselves ("art" is not "artisan"). An entry with a space is a
phrase ("salle des fetes"): it counts double. Each distinct word counts once.
"""

# fmt: off
# (laid out by hand, several words a line: a formatter would put one a line)
CATEGORY_VOCABULARY: dict[str, tuple[str, ...]] = {
    "economie": (
        "commerc", "boutique", "magasin", "entreprise", "emploi", "chomage", "port", "peche", "pecheur",
        "criee", "conserver", "touris", "saisonn", "hotel", "restaura", "artisan", "economi", "vitrine",
        "attractiv", "industri", "plaisance", "ponton", "bateau", "navire", "chantier", "coworking",
        "teletravail", "zone artisanale", "fibre", "emplois", "salarie", "marchand", "halles",
        "entrepreneur", "embauche", "recrut", "activite",
    ),
    "logement": (
        "logement", "loger", "loyer", "location", "immobili", "maison", "appartement", "residence",
        "urbanis", "plu", "permis de construire", "construct", "construire", "lotissement", "foncier",
        "habitat", "hlm", "renovation", "insalubr", "vacant", "friche", "batiment", "densif", "airbnb",
        "meubles de tourisme", "accession", "proprietaire", "locataire", "bailleur", "terrains a batir",
        "residences secondaires",
    ),
    "culture": (
        "cultur", "patrimoine", "festival", "concert", "musique", "musicien", "theatre", "cinema",
        "exposition", "musee", "artiste", "art", "tradition", "langue bretonne", "breton", "fest-noz",
        "pardon", "chapelle", "eglise", "bibliotheque", "mediatheque", "livre", "lecture", "histoire",
        "historique", "monument", "spectacle", "danse", "bagad", "celtique", "conte", "peinture",
        "photograph", "memoire",
    ),
    "ecologie": (
        "ecolog", "environnement", "nature", "biodiversite", "littoral", "dune", "pollu", "dechet",
        "ordure", "tri", "recycl", "compost", "poubelle", "conteneur", "collecte", "plage", "eclairage",
        "desherb", "chimique", "plastique", "velo", "cyclable", "mobilite", "electrique", "energie",
        "solaire", "eolien", "climat", "erosion", "submersion", "arbre", "vegeta", "espece", "oiseau",
        "sentier", "assainissement", "pesticide", "transition", "renouvelable", "covoiturage", "navette",
        "zero dechet", "faune", "flore", "marais",
    ),
    "associations": (
        "association", "associati", "club", "benevol", "adherent", "subvention", "salle des fetes",
        "salle polyvalente", "salle communale", "salles communales", "locaux", "federation", "comite",
        "amicale", "forum des associations", "entraide", "solidarit", "sportif", "sportive",
        "vie associative", "creneaux", "mise a disposition",
    ),
    "jeunesse": (
        "jeune", "jeunesse", "ado", "adolescent", "enfant", "ecole", "college", "lycee", "eleve",
        "scolaire", "periscolaire", "creche", "garderie", "petite enfance", "education", "educati",
        "parents", "enseignant", "centre de loisirs", "aire de jeux", "skatepark", "etudiant", "apprenti",
        "bebe", "colonie", "baby",
    ),
    "alimentation-bien-etre-soins": (
        "aliment", "nourriture", "manger", "repas", "cantine", "bio", "circuit court", "producteur",
        "epicerie", "boulangerie", "sante", "medecin", "docteur", "generaliste", "infirmi", "pharmac",
        "soin", "hopital", "urgence", "maison de sante", "desert medical", "dentiste", "kine", "ehpad",
        "personnes agees", "senior", "aines", "bien-etre", "yoga", "handicap", "dependance",
        "aide a domicile", "nutrition", "potager", "marche bio", "maraich", "legume", "fruit",
        "poisson frais",
    ),
}
# fmt: on
#: Words that match only themselves, not the words they start ("port" is not "portail"); words of three
#: letters or fewer always do.
EXACT_WORDS = frozenset({"art", "tri", "bio", "ado", "port", "plu", "kine", "hlm"})
