"""The French vocabulary of the charter signals: data only, no logic.

How to add a word: find the list of the signal (the comment above each list says what it catches and
which signal reads it) and add an entry. Entries are matched against the contribution in lower case,
without accents, apostrophes as spaces ("l'adjointe élue" is read as "l adjointe elue"); an entry
written with accents or an apostrophe is folded the same way, so "élus" and "l'édile" work as written.

An entry matches from the start of a word to the end of a word, except in the four lists marked
"may end inside a word" (there "selon le" also finds "selon leur"). A little pattern syntax is
allowed and used below:

- ``e?s?``: the letter before ``?`` is optional ("elue?s?": élu, élue, élus, élues);
- ``\\w*``: any end of word ("incompeten\\w*": incompétent, incompétence, incompétents);
- ``(?:le|du|au) maire``: one of the choices ("le maire", "du maire", "au maire");
  ``(?:tres )?``: an optional word;
- ``\\d+``: a number; ``[- ]``: a hyphen or a space.

Entries are tried in order and the first that matches is the evidence shown: put a longer phrase
before a shorter one it starts with ("copains et coquins" after "copains" would never be shown;
``test_rules_structure.py`` checks this for plain entries). The words of the seven categories are in
``category_words.py``.

A long entry may go on over two lines (two strings side by side, no comma between them, the second
indented further): Python joins them.
"""

# fmt: off
# (the lists are laid out by hand, several entries a line: a formatter would put one a line)

# -- aggressive: insults, contempt, words that insult only a person -------------------------------------

#: Insults whatever they are aimed at (plain words only: a plural "s" is allowed, any spacing between words).
INSULTS = (
    "connard", "connasse", "abruti", "cretin", "imbecile", "idiot", "debile", "salaud", "salopard",
    "ordure", "enfoire", "guignol", "clown", "bouffon", "nullard", "tocard", "escroc",
    "voleur", "mafieux", "charlot", "branquignol", "ane", "baltringue", "raclure",
    "parasite", "crapule", "merde", "fumier", "gros nul",
    "des incapables", "bras casses", "andouille", "tanche", "pignouf", "blaireau",
)
#: Contempt for the reader or the people in charge.
CONTEMPT = (
    "honte a (?:vous|eux|lui|elle)", r"bande d(?:e|es)? \w+", "vous vous en (?:fichez|foutez|moquez)",
    "tous des vendus", "degage[zr]?", "foutez", "fout(?:re|ent)", "ta gueule", "fermez[- ]la",
    "vous etes (?:tous |vraiment |bien )?(?:des |les )?(?:nuls|incapables|bons a rien|zeros|ignares)",
    "bons? a rien", r"tas de \w+", "ramassis", "allez vous faire", "casse[z]?-vous", "rien a foutre",
    "dehors les elus", "foutage de gueule",
    "se (?:bouge(?:nt)?|sorte(?:nt)?) (?:le derriere|le cul|les doigts)", "bordel", "petits? chefs?",
    "virez(?:-les)?", "vous n etes qu (?:un|une|des)", "ils ne sont qu (?:un|une|des)", "bougez-vous",
    "remuez-vous",
)
#: Strong words that also describe things (a rotten pontoon, a lamentable road): an insult only when
#: grammar ties them to a person ("vous êtes lamentable", "des élus pourris"); alone, a near miss.
STRONG_WORDS_ABOUT_THINGS = ("pourrie?s?", "lamentables?", "pitoyables?", "minables?", "abjecte?s?")
#: People and roles a strong word, or an ambiguous verb (``TIED_WORDS``), can be aimed at ("-là" allowed).
PEOPLE = (
    "maire", "elue?s?", "adjointe?s?", "equipe(?: municipale| en place| sortante)?",
    r"conseill(?:er|ere)s?(?: municipa\w+)?", "conseil(?: municipal)?", "municipalite", "majorite",
    "dirigeants", "decideurs", "responsables", "politiques", "politiciens", "gens", "types?", "messieurs",
    "dames", r"president\w*", r"directeur\w*", "directrice", "agents?", "personnages?", "individus?",
    "vendus",
)

# -- discrimination --------------------------------------------------------------------------------------

#: Slurs: discriminatory whatever the context (plain words, as INSULTS).
SLURS = (
    "bougnoule", "negre", "youpin", "bicot", "romanos", "pede", "tapette", "gouine", "chintok", "bamboula",
)
#: Groups (origin, religion, sexuality, disability, age, sex, children in care...): discrimination only
#: together with exclusion wording (``EXCLUSION``).
GROUPS = (
    "etrangere?s?", "immigree?s?", "immigration", "migrante?s?", "refugiee?s?", "arabes?", "musulmane?s?",
    "juive?s?", "roms?", "gitane?s?", "gens du voyage", "noire?s?", "africaine?s?", "maghrebine?s?",
    "homosexuelle?s?", "homos?", "lesbiennes?", "trans", "handicapee?s?", "femmes? (?:au pouvoir|elues?)",
    "une femme", "les femmes", "ces gens-la", "ces gens la", "cette population",
    "personnes? (?:en fauteuil|handicapees?|agees)", "les vieux", "fauteuils? roulants?",
    "enfants? (?:du foyer|places|de l ase)", "aide sociale a l enfance", "sans-abris?", "sdf",
    "cas sociaux", "assistes", "pauvres", "mariages? (?:musulmans?|juifs?|gays?|homosexuels?)",
)
#: Exclusion wording: with a group, a flag; alone, a near miss (unless it is in ``EXCLUSION_ON_ITS_OWN``).
EXCLUSION = (
    "dehors", "rentrer chez eux", "retourner chez eux", "rentrent chez eux",
    "rien a faire (?:ici|chez nous)", "pas chez nous", r"envahi\w*", "invasion", "grand remplacement",
    "parasites?", "vermines?", "racailles?", r"interdi\w* aux", "interdire l acces",
    "(?:reserve|reserves|reservee|reservees|priorite) aux (?:vrais |seuls )?(?:francais|bretons|gens d ici)",
    "de souche", "on n en veut pas", "n en voulons pas", "pas de place pour (?:eux|les)", "indesirables?",
    "ne sont pas les bienvenus", "pas les bienvenus", "tous des", "ne s integrent pas", r"inferieur\w*",
    "ne (?:devraient|doivent) pas (?:pouvoir )?(?:voter|habiter|s installer|avoir acces|etre scolarises?)",
    "n ont pas (?:leur|de) place", "pas leur place", r"reserve\w* aux (?:francais|bretons|gens d ici)",
    "(?:c est )?dans leur (?:nature|sang)", "dans leurs genes", "n ont qu a (?:rester|retourner|partir)",
    "qu ils aillent (?:vivre )?ailleurs",
    "ne (?:devrait|devraient|doit|doivent) plus (?:les |l )?(?:accepter|accueillir|recevoir)",
    "metier d hommes?", "pas (?:un metier|un poste|une place) pour (?:une femme|les femmes)",
    "ce n est pas serieux", "nommer un homme", "limiter les autres", "coutent trop cher",
    "(?:une |dans une )?(?:classe|ecole|salle) a part", "a l ecart des autres", "font baisser le niveau",
    r"ne correspond\w* pas a nos (?:traditions|valeurs|coutumes)",
    r"(?:reserver|reservee?s?|priorite) (?:\w+ ){0,3}aux? (?:familles|gens|habitants|enfants) d ici",
)
#: Parts of exclusion wording that flag without a group named (essentialising phrases), searched inside
#: the exclusion wording found: "c est dans leur nature" contains "dans leur ".
EXCLUSION_ON_ITS_OWN = (
    "de souche", "grand remplacement", "vermine", "invasion", "dans leurs? ", "metier d homme",
)

# -- spam ---------------------------------------------------------------------------------------------------

#: Promotional wording: two of them, or one with a link, phone or e-mail, is advertising.
PROMOTION = (
    "promo", "promotion", "code promo", "reduction", "remise", "soldes?",
    "offre (?:speciale|exceptionnelle|limitee|unique)", "prix (?:imbattables?|casses?|discount)",
    "meilleurs? prix", "a prix reduit", "devis gratuit", "livraison (?:gratuite|offerte|rapide)",
    "cliquez", "achetez", "commandez", "abonnez-vous", "inscrivez-vous vite", "contactez-nous",
    "appelez(?:-nous)? vite", "profitez", "ne ratez pas", "gagnez", "satisfait ou rembourse",
    "nos services", "notre (?:entreprise|societe|boutique|magasin|agence|cabinet)", "casino", r"crypto\w*",
    "bitcoin", "forex", "investissement garanti", "rendement garanti", "revenus? passifs?",
    r"\d+\s?% de reduction",
)
#: What a business selling something writes beside its contact details (a news link or a public number
#: has none of it): with a contact, spam.
SELLING = (
    "devis", "tarifs?", "a vendre", "je vends", "vendons", "rachat", "rachetons", "paiement", "credits?",
    "prets?", "taux (?:exceptionnel|bas|zero)", "meilleur cours", "sans justificatif", r"defiscalis\w*",
    "investissez", "simulation gratuite", "essai gratuit", "premier mois",
    "premiere (?:lecon|seance|consultation|commande|visite)", "offerte?s?",
    "inscriptions? (?:sur|en ligne)", "inscrivez-vous", "ecrivez-nous", "appelez-nous", "passez nous voir",
    "visitez", "decouvrez", "apprenez", "essayez", "reservez", "commandez",
    "nos (?:produits|prestations|offres|creations|tarifs|services)",
    "notre (?:methode|appli|application|site|offre|savoir-faire)",
    "nous (?:vous )?(?:proposons|creons|offrons|realisons|installons|livrons|rachetons)",
    "votre (?:commerce|entreprise|site|visibilite)", "booster", r"exclusi\w*", "sarl", "eurl",
    "sur commande", "livraison", "depannage", "ouvert 7j", "7j/7", "24h/24", r"(?:en|sous) \d+ ?h",
)
#: Sites whose links are sources, never spam (part of the address: "audierne.bzh" also matches
#: "www.audierne.bzh/deliberations"). Written as plain text: a dot is a dot.
TRUSTED_SITES = (
    "audierne.bzh", "audierne.fr", "gouv.fr", "service-public.fr", "finistere.fr", "github.com/audierne2026",
)
#: A link that is itself an advert: a shop's top-level domain ("gites.shop") ...
SHOP_DOMAINS = ("shop", "store", "biz", "xyz")
#: ... or a selling word at the start of a part of the address ("pontons-pas-chers.fr", "promo-velos.com").
SELLING_WORDS_IN_ADDRESSES = (
    "shop", "boutique", "promo", "pas-cher", "discount", "soldes", "achat", "vente", "casino", "crypto",
    "bitcoin", "forex", "deals?", "bon-plan", "bons-plans", "livraison",
)

# -- subtle violations: attacks on people in polite wording ----------------------------------------------

#: Who an attack is aimed at (the older, narrower list; ``PERSON_MENTIONS`` is the wider one).
PERSON_TARGETS = (
    r"(?:madame |monsieur |m\. |mme )?le maire", "la maire", "madame la maire", "nos elus", "les elus",
    "certains elus", "elus actuels", "equipe municipale", "equipe en place", "municipalite",
    r"l adjoint\w*", "adjointe?s?", "nos dirigeants", "ceux qui nous (?:dirigent|gouvernent)",
    "ces messieurs", "ces dames", "majorite actuelle", "le conseil municipal", "la majorite",
    "l equipe sortante", r"monsieur \w+", r"madame \w+", "le premier magistrat", "l edile",
    "nos representants", "ceux qui decident", "les decideurs", "nos gouvernants locaux",
)
#: Any mention of who decides: the subject of a veiled attack in a sentence.
PERSON_MENTIONS = (
    "(?:le|du|au|un|notre|ce) maire", "la maire", "(?:nos|les|des|ces|vos|une|l|notre) elue?s?", "elus",
    "l?adjointe?s?", "(?:le|du|au) conseil(?: municipal)?", "equipe municipale", "equipe en place",
    "municipalite", "(?:la|leur|de la) majorite",
    "ceux qui (?:nous )?(?:dirigent|gouvernent|decident|votent|ont (?:vote|decide|signe|choisi))",
    "nos (?:representants|dirigeants|edile?s)",
    "(?:quelqu un|les gens|ces messieurs|ces dames) (?:a|de) la mairie",
    "(?:madame|monsieur) (?:le |la )?maire", "premier magistrat", r"conseill(?:er|ere)s?(?: municipa\w*)?",
    "(?:nos |les )?responsables (?:municipaux|locaux|de la commune)",
    "certains (?:elus|au conseil|a la mairie)", "hotel de ville",
)
#: Attacks on a person's competence, honesty or care.
PERSON_ATTRIBUTES = (
    r"incompeten\w*", "amateurisme", r"negligen\w*", "laxisme", "laxistes?", "je-m-en-foutisme",
    "je m en foutisme", r"desinvolt\w*", r"malhonnet\w*", "copinage", "copains",
    "amis du maire", "petits arrangements", "arrangements? entre amis", "magouilles?", "clientelisme",
    "conflits? d interets?", "plein les poches", "interets personnels", "mensonges?", "menteurs?",
    "mentent", "mentir", "cacher quelque chose", "a cote de la plaque", "ne comprennent rien",
    "ne connaissent rien", "ne savent pas ce qu ils font", "s en moquent", "s en fichent", "s en fiche",
    "meprisants?", "pas a la hauteur", "aucune competence", "aucune vision", "courte vue",
    r"irresponsab\w*", "vanite", "(?:ont|a) (?:sans doute |surement |certainement )?mieux a faire",
    "trop occupee?s?", "ne (?:semble|semblent) pas (?:emouvoir|interesser|preoccuper|deranger)",
    "(?:aucun|peu d|un peu d) interet pour", "se moquent? (?:bien )?(?:des|de)", "bien au chaud",
    "tour d ivoire", "deconnectee?s?", "hors sol", "promesses? (?:non tenues?|en l air)", "beaux discours",
    "effets? d annonce", "poudre aux yeux", "membres? de (?:la|leur|sa) famille", "leurs proches",
    "neveux?", "beau-frere", "(?:pour|soigner) leur (?:image|reelection|carriere)", "leur propre image",
    r"electoralis\w*", "favoritisme", r"pistonn\w*",
    # the same attacks in polite wording
    "les yeux fermes", "sans (?:les )?lire", "lire (?:les|le|leurs?) (?:documents?|dossiers?|rapports?)",
    "(?:un minimum|un peu|une once) de (?:serieux|competence|rigueur|bon sens|decence|courage|honnetete)",
    r"conna\w* (?:son|leur|ses|leurs) dossiers?", r"suiv\w* (?:ses|leurs) dossiers",
    "(?:prendre|prendra|prennent|prend) la peine", "d autres priorites", "mis les pieds",
    "mettre les pieds", "mettent (?:jamais )?les pieds",
    "sortir (?:souvent |un peu )?de (?:leur|son) bureau", "lever les yeux", "piedestal",
    "(?:sa|leur) communication", "photos? dans (?:le|la) (?:journal|presse)", "inaugurations?",
    "cocktails?", "leurs journees", r"sinceri\w*", "qui connait qui",
    r"(?:un|une|des) proches? (?:de la majorite|du maire|de l adjoint\w*|des elus)", "campagne electorale",
    "approche des elections", "veille des? elections", "ne (?:servent|sert) a rien",
    "se (?:soucient|soucie) peu", "(?:ne )?(?:veulent|veut) pas voir",
    "(?:interesse|interessent) (?:davantage|plus)", "font semblant", "fait semblant",
    "avant les elections", "(?:aussi|si) naifs", "nous prennent pour", "poser pour",
    "couper (?:un|le|des) rubans?", "plus de facilite", "commun des mortels", "passe-droits?",
    "traitement de faveur",
    r"(?:l epouse|le mari|la femme|le frere|la soeur|le fils|la fille|le cousin|le gendre|la belle-soeur) "
        r"d (?:un|une|l) (?:elue?|conseill\w+|adjointe?|maire)",
)
#: Verbs and adjectives that also describe things (the speed "dépasse", a "blind" bend): an attack only
#: with a person or role (``PEOPLE``) as their subject ("la municipalité est dépassée", "le maire dort").
#: "Opaque" is left out on purpose: a complaint about transparency is fair criticism.
TIED_WORDS = (
    "depassee?s?", "dort", "dorment", "dormez", "dormir", "endormie?s?", "aveugles?", "cachent", "cache",
    "cachez", "dissimulent", "dissimule", "indifferente?s?", "meprisent", "meprise", "enfument", "enfume",
    "se servent", "se sert", "amateurs?", "caprices?",
)
#: Insinuations, whoever they are about (may end inside a word).
INSINUATIONS = (
    "comme par hasard", "a qui profite", "on se demande (?:si|bien|pourquoi|comment)", "ont-ils seulement",
    "a-t-il seulement", "a-t-elle seulement", "savent-ils seulement", "sait-il seulement",
    "sait-elle seulement", "faut-il rappeler",
    "est-ce (?:vraiment |bien )?(?:de l incompetence|de la negligence|un hasard)", "curieusement",
    "etrangement", "bizarrement", "simple coincidence", "on aimerait (?:bien )?savoir", "j imagine que",
    "il faut vraiment etre", "allez savoir", "suivez mon regard", "je dis ca je dis rien", "tiens tiens",
    "cherchez l erreur", "quelle surprise", "(?:etrange|drole de|curieuse) coincidence",
    "je doute (?:que|qu ils|qu elle)", "cela dit beaucoup", "ca en dit long", "en dit long",
    "on n est pas dupes?", "personne n est dupe", "chacun appreciera", "je vous laisse juges?",
    "vous m excuserez de douter", "permettez-moi de douter", "serait-ce (?:que|parce)", "y aurait-il",
    "faudrait-il comprendre que",
)
#: Irony about intent or character rather than facts: aimed at a person in a sentence, a flag.
IRONY = (
    "bien sur", "comme d habitude", "comme toujours", "une fois de plus", "encore une fois",
    "a croire que", "il faut (?:croire|le croire) que", "comme si c etait une surprise",
    "comme par enchantement", "c est trop demander", "trop demander",
    "(?:on peut|on pourrait) (?:legitimement |bien |serieusement )?se demander",
    "je me demande (?:ce que|si|bien)", "peut-etre qu un jour", "un jour peut-etre",
    "ce serait (?:deja )?un bon debut", "(?:cela|ca) changerait", "patientons", "je ne dis pas que",
    "je (?:remarque|constate|note|observe) (?:seulement|simplement|juste)", "chacun (?:en )?tirera",
    "(?:tirer|tirera) (?:ses|les) (?:propres )?conclusions", "je laisse (?:chacun|a chacun)", "evidemment",
    "naturellement", "quelle (?:surprise|coincidence)", "decidement", "sans rancune", "il est vrai que",
    "eux qui", "sans vouloir (?:faire (?:de |un )?)?(?:proces d intention|polemiquer|accuser)",
    "loin de moi l idee", "je n accuse personne", "visiblement",
    "(?:drole|curieux|pur|quel) (?:de )?hasard", "a chacun de juger",
    "jugez (?:vous-memes|par vous-memes)", "je vous laisse (?:apprecier|conclure)",
    "ne (?:leur|lui) ferait pas de mal",
)
#: A rhetorical question about a person's knowledge or care: one of these verbs, inverted with its
#: pronoun ("sait-il", "a-t-elle"), then one of ``RHETORICAL_NEXT_WORDS`` ("le maire sait-il au moins ...").
RHETORICAL_VERBS = (
    "sai[st]", "saven?t", "conna(?:i|is)sent", "connai?t", "on?t", "a", "lisent", "lit", "viennent",
    "vient", "voient", "voit", "ecoutent", "ecoute", "comprennent", "comprend", "pensent", "pense",
    "regardent", "regarde", "mesurent", "mesure",
)
RHETORICAL_NEXT_WORDS = (
    "au moins", "seulement", "vraiment", "meme", "jamais", "deja", "bien", "encore", "ce qu", "ce que",
    "ou se trouve",
)

# -- false information --------------------------------------------------------------------------------------

#: Conspiracy wording and claims nobody can check.
UNVERIFIABLE_CLAIMS = (
    "on nous cache", "la verite qu on", "ce qu on ne vous dit pas",
    "les medias (?:ne disent|cachent|se taisent)", "c est (?:scientifiquement )?prouve que",
    "tout le monde sait (?:bien )?que", "chemtrails?", "5g (?:donne|provoque|rend)", "antennes? 5g",
    "ondes (?:donnent|provoquent|rendent)", r"empoisonn\w*", r"complot\w*", "puces? dans",
    "la mairie (?:a vendu|va vendre|va raser|va fermer|a decide en secret)", "en secret", "100 ?% des",
    "aucun medecin ne", "tous les scientifiques", "interdit par (?:l europe|bruxelles)",
    r"va etre rase\w*", "vont etre rases?", r"sera rase\w*", "disparaitre d ici", "doses? mortelles?",
    "radiations?", r"boycott\w*", "vont nous empoisonner",
)
#: Hearsay: on its own a report of what is said, which the charter welcomes as a question.
HEARSAY = (
    "il parait que", "parait-il", "rumeurs?", "on (?:m a|nous a) dit que", "on entend dire",
    "j ai entendu dire", "tout le monde (?:le )?dit", "d apres ce que (?:tout le monde|l on|on) dit",
    "personne n en parle", "officieusement", "bruits? de couloir", "(?:le |un )?bruit court",
)
#: Asking the commune to confirm, deny or explain: what turns hearsay into a question (a "?" does too).
ASKS_CONFIRMATION = (
    "confirmer", "dementir", "preciser", "clarifier", "pouvez-vous", "pourriez-vous", "peut-elle", "peut-il",
    "est-ce (?:vrai|exact)", "qu en est-il", "ce qu il en est",
    "merci de (?:nous )?(?:dire|informer|preciser)",
)
#: Presenting a claim as certain without saying where it comes from.
CERTAINTY = (
    "c est un fait",
    "il est (?:scientifiquement |medicalement |bien )?(?:prouve|demontre|etabli|avere|certain)",
    "c est (?:prouve|demontre|officiel|certain|sur|acte|garanti|confirme)", "c est (?:deja )?decide",
    "(?:c est )?100 ?% sur", "tout le monde (?:le )?sait", "tout le monde est au courant",
    "tous les (?:medecins|veterinaires|scientifiques|experts|ingenieurs|specialistes|pecheurs|habitants) "
        "(?:le )?(?:disent|savent|confirment)",
    "les (?:ingenieurs|experts|medecins|scientifiques|techniciens) l ont (?:dit|confirme)",
    "personne ne (?:veut|va|ose) (?:l |le |vous l |vous le )?(?:annoncer|dire|avouer|reconnaitre)",
    "on ne vous le dira pas", "de source sure", "des sources sures", "selon mes sources", "c est confirme",
    "rumeur (?:est )?confirmee", "sans aucun doute", "aucun doute (?:la-dessus|possible)", "irrevocable",
    "c est (?:plie|joue|definitif)", "(?:plus )?personne n aura", "personne ne pourra plus",
    "(?:qui )?interdit tout", "tout est interdit",
    "(?:la mairie|ils|les elus|le maire) le (?:sai(?:t|vent)|savent) (?:tres bien )?et",
)
#: Drastic facts stated about the commune, public health or everyone at once (may end inside a word).
DRASTIC_CLAIMS = (
    "(?:sera|seront) (?:fermee?s?|vendue?s?|rasee?s?|supprimee?s?|demolie?s?|privatisee?s?)",
    "definitivement",
    "(?:va|vont) (?:fermer|disparaitre|s effondrer|exproprier|raser|vendre|detruire|demolir|privatiser|"
        "etre (?:rasee?s?|vendue?s?|fermee?s?|demolie?s?|supprimee?s?|privatisee?s?))",
    "(?:a|ont) (?:deja )?(?:signe la vente|vendu|double|triple|supprime|privatise)",
    "(?:ont|a) (?:double|triple|quadruple)",
    "(?:cause|causent|provoque|provoquent|donne|donnent|rend|rendent) (?:des |le |la |l )?"
        "(?:maladies?|cancers?|autisme|allergies?|malformations?|malades|steriles?|fous)",
    "toxiques?", r"contien\w* (?:des |du |de l )?(?:nanoparticules|mercure|plomb|puces?|poison)",
    "(?:tous|toutes) les (?:foyers|habitants|maisons|familles|enfants|poissons)", "pour tout le monde",
    "pour payer (?:les|leurs) indemnites",
)
#: Health scares: a hidden danger in what people eat, drink or receive (may end inside a word).
HEALTH_SCARES = (
    r"contien\w* (?:des |du |de l )?(?:nanoparticules|mercure|puces?|poisons?|metaux lourds)",
    "(?:cause|causent|provoque|provoquent|donne|donnent) (?:des |le |la |l )?"
        "(?:cancers?|autisme|malformations?|leucemies?)",
    "rend(?:ent)? (?:les (?:gens|enfants) )?(?:steriles?|malades|fous)", "contaminee?s? (?:aux?|par) ",
    "(?:abime|abiment|detruit|detruisent|attaque|attaquent) "
        "(?:le cerveau|la sante|les poumons|le foie|les reins)",
)
#: Where a claim comes from: a document, a body or a dated decision (may end inside a word).
SOURCES = (
    "selon (?:le|la|les|l|un|une)",
    "d apres (?:le|la|les|l) (?:rapport|etude|insee|recensement|compte rendu|deliberation|arrete|prefecture|"
        "ars|analyse|bulletin|site)",
    "deliberations? du", "compte rendu", "proces-verbal", "rapport (?:de|du|d)", "insee", "etude d impact",
    "source ?:", "bulletin municipal", "arrete (?:municipal|prefectoral)", "publiee? (?:par|sur|au|dans)",
)

# -- off topic: is the subject the commune? ------------------------------------------------------------------

#: Any tie to the commune or a municipal matter, the neighbouring towns included.
LOCAL = (
    "audierne", "esquibien", "cap[- ]sizun", "poulgoazec", "sainte[- ]evette", "ste[- ]evette",
    "trescadec", "goyen", "pointe du raz", "plogoff", "primelin", "plouhinec", "pont-croix", "douarnenez",
    "quimper", "finistere", "bretagne", "ile de sein", "quai", "quais", "port", "criee", "mairie",
    "commune", r"communal\w*", r"municipal\w*", "conseil", "elus?", "maire", "adjointe?s?", "ville",
    "bourg", "quartiers?", "habitants?", "riverains?", "rue", "rues", "place", "chez nous",
    "notre village", "plage", "plages", "ecole", "cantine", "voirie", "parking", "stationnement",
    "mediatheque", "bibliotheque", "salle", "salles", "marche", "terrain", "camping", "piste cyclable",
    "navette", "eclairage public", "plu", "permis de construire", "budget", "impots locaux",
    "taxe fonciere", "subventions?", "ccas", "ehpad", "centre-bourg", "littoral", "gendarmerie", "caserne",
    "pompiers", "bureau de poste", "la poste", "cimetiere", "stade", "piscine", "gymnase",
    "office de tourisme", "lotissements?", "trottoirs?", "chaussee", "carrefour",
    "rond-point", "lavoir", "halle", "halles", "digue", "cale", "services? techniques",
    "agents? communaux", r"conseil(?:ler|lere)s? municipa\w*", "intercommunalite",
    "communaute de communes",
)
#: Places and municipal matters that tie a contribution strongly to the commune (not the neighbouring
#: towns, not the region): more than one of them and a subject elsewhere is not the main subject.
STRONG_LOCAL = (
    "audierne", "esquibien", "poulgoazec", "sainte[- ]evette", "ste[- ]evette", "trescadec", "lervily",
    "goyen", "mairie", "commune", r"communal\w*", r"municipal\w*", "conseil", "elus?", "maire",
    "adjointe?s?", "bourg", "centre-bourg", "quartiers?", "habitants?", "riverains?", "quai", "quais",
    "port", "criee", "plage", "plages", "ecole", "cantine", "voirie", "parking", "stationnement",
    "mediatheque", "salle", "salles", "taxe de sejour", "taxe fonciere", "impots locaux", "deliberations?",
    "budget", "subventions?", "ccas", "ehpad", "plu", "lotissements?", "camping", "stade", "halle",
    "digue", "cale", "agence postale", "signaletique", "panneaux", "sentiers?", "massifs", "espaces verts",
    "station d epuration", "dechetterie", "collecte", "travaux", "chantier", "navette", "creche",
    "garderie", "permis de construire", "chapelle", "eglise", "lavoir", "fontaine", "calvaire", "phare",
    "capitainerie", "front de mer", "monument aux morts", "cimetiere",
)
#: National and foreign politics, sport and entertainment: off topic unless tied to the commune.
NATIONAL_OR_FOREIGN = (
    "president de la republique", "gouvernement", "assemblee nationale", "senat", "premier ministre",
    "macron", "trump", "poutine", "ukraine", "russie", "israel", "gaza", "chine", "etats-unis", "amerique",
    "union europeenne", "bruxelles", "reforme des retraites", "football", "psg", "ligue des champions",
    "coupe du monde", "tele-realite", "serie netflix", "netflix", "horoscope", "recette", "mon chat",
    "mon chien", "thailande", "jeux video", "playstation", "election presidentielle", "presidentielle",
    "politique nationale", "bourse", "nasa", "paris saint-germain",
)
#: Subjects that are neither local nor municipal: the nation, the world, private life and leisure.
ELSEWHERE = (
    "l etat qui", "tout le pays", "dans tout le pays", "pour tout le pays", "partout en (?:france|europe)",
    "la france", "les francais", "ministre", "ministere", "europe", "europeenne?", "mondiale?",
    r"international\w*", "planete", "film", "films", "cinema de", "chef-d oeuvre", "version originale",
    "chanteur", "album", "xv de france", "equipe de france", "selectionneur", "tournoi", "championnat",
    "ligue 1", "match", "mes vacances", "ma voiture", "mon garage", "garagiste", "mon telephone",
    "(?:une|bonne) application pour", "apprendre l (?:anglais|espagnol|allemand|italien)",
    "quelqu un (?:d ici |d audierne |du coin |de la commune )?(?:conna(?:i|it)|aurait|a) "
        "(?:un|une|des|le nom|l adresse)",
    "une adresse", "merci d avance", "vos recommandations", "vos astuces", "ma grand-mere", "recettes?",
    "quelqu un a (?:une|un) ", "qui a (?:vu|suivi) ", "je conseille (?:vivement )?de", "guerre en",
    "armes", "diesel", "baccalaureat",
)

# -- encouraged aspects --------------------------------------------------------------------------------------

PROPOSAL = (
    "je propose", "nous proposons", "proposer", "proposition", "il faudrait", "il faut", "on pourrait",
    "pourrait", "pourraient", "installer", "creer", "creation", "mettre en place", "amenager", "organiser",
    "developper", "ouvrir", "instaurer", "prevoir", "renforcer", "ajouter", "planter", "deplacer",
    "relancer", "soutenir", "reserver",
)
#: A question (a "?" counts too).
QUESTION = ("pourquoi", "est-il possible", "serait-il possible", "est-ce que", "quand", "comment", "combien")
#: Criticism: constructive when it comes with a proposal or a question.
CRITICISM = (
    "dommage", r"regrett\w*", r"manque\w*", r"insuffisan\w*", r"probleme\w*",
    "mal (?:concu|pense|entretenu|place)", "trop", "pas assez", "erreur", r"inadapte\w*", "contre",
    r"deplor\w*", r"degrad\w*", r"dangereu\w*", "absurde", "inutile", r"aberr\w*", "gachis",
)
EXPERIENCE = (
    "j ai", "nous avons", "en tant que", r"depuis \d+ ans", "depuis des annees", "mon experience",
    "dans ma commune", "je travaille",
    r"je suis (?:pecheur|commercant|parent|infirmi\w*|enseignant\w*|retraite\w*|benevole|agriculteur)",
    "ailleurs", "a (?:douarnenez|quimper|concarneau|plouhinec|crozon|pont-croix|lorient)",
)
IMPROVEMENT = (
    r"amelior\w*", "mieux", "plutot", r"suggere\w*", "suggestion", "il serait (?:bien|utile|bon)",
    r"optimis\w*",
)

# -- shouting ------------------------------------------------------------------------------------------------

#: Acronyms written in capitals are not shouting.
ACRONYMS = (
    "PLU", "EHPAD", "SNSM", "CCAS", "HLM", "SNCF", "EDF", "RN", "TER", "PMR", "ZAC", "SCOT", "CDC", "OK",
    "SIVU", "DDTM", "ADMR", "CAF",
)
# fmt: on
