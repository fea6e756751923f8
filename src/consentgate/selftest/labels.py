"""Which banner control a visible label names: reject, accept, settings, save, or reopen.

Sites that do not use consentgate are driven through their own buttons, found by accessible
name. The phrases below cover the EU/EEA languages and English; each list runs from the
strongest wording ("reject all") to the weakest ("no thanks"), so the best candidate wins when
a banner shows several. A label matches a phrase exactly, or starts with it followed by up to
three words ("Reject all cookies"), or ends with it after up to two ("Cookies ablehnen"),
because German and Dutch put the verb last.
"""

from __future__ import annotations

import re
from typing import Literal

ControlKind = Literal["reject", "accept", "settings", "save"]


def _phrases(text: str) -> tuple[str, ...]:
    return tuple(p.strip() for line in text.strip().splitlines() for p in line.split("|") if p.strip())


REJECT = _phrases(
    """
    reject all | reject all cookies | decline all | refuse all | deny all | reject | decline | refuse | deny
    reject optional cookies | decline optional cookies | reject non-essential cookies
    only necessary | necessary only | only necessary cookies | necessary cookies only
    use necessary cookies only
    only essential | essential only | only essential cookies | essential cookies only
    use essential cookies only
    only required | required only | strictly necessary only | only strictly necessary cookies
    accept only necessary | accept necessary | accept necessary only | accept only essential
    accept essential
    allow only necessary | allow necessary | allow essential | allow only essential
    continue without accepting | i do not accept | i don't accept | do not accept | disagree | no thanks
    no, thanks
    alle ablehnen | alle cookies ablehnen | ablehnen | alles ablehnen | verweigern | alle verweigern
    nur notwendige | nur notwendige cookies | nur essenzielle | nur essenzielle cookies | nur erforderliche
    nur technisch notwendige | weiter ohne einwilligung | ohne einwilligung fortfahren | nicht zustimmen
    ich lehne ab
    tout refuser | refuser tout | refuser | je refuse | continuer sans accepter | uniquement nécessaires
    refuser les cookies | refuser tous les cookies
    rechazar todo | rechazar todas | rechazar | denegar | rechazar cookies | solo necesarias
    solo las necesarias
    continuar sin aceptar
    rifiuta tutto | rifiuta tutti | rifiuta | rifiuto | solo necessari | continua senza accettare | nega
    alles weigeren | alle weigeren | weigeren | alles afwijzen | afwijzen | alleen noodzakelijke
    niet akkoord
    rejeitar tudo | rejeitar todos | rejeitar | recusar tudo | recusar todos | recusar | apenas necessários
    odrzuć wszystkie | odrzuć wszystko | odrzuć | tylko niezbędne | nie zgadzam się | odmów
    avvisa alla | avvisa | neka alla | neka | avböj alla | avböj | endast nödvändiga
    afvis alle | afvis | afslå alle | afslå | kun nødvendige
    hylkää kaikki | hylkää | vain välttämättömät | kieltäydy
    odmítnout vše | odmítnout všechny | odmítnout | pouze nezbytné | jen nezbytné
    avvis alle | avvis | avslå alle | avslå
    összes elutasítása | mindet elutasítom | elutasítom | elutasítás
    respinge tot | respinge toate | respinge | refuză tot | refuz
    απόρριψη όλων | απόρριψη
    odmietnuť všetko | odmietnuť | zavrni vse | zavrni | odbij sve | odbij
    отхвърляне на всички | отхвърли | atmesti visus | atmesti | noraidīt visus | noraidīt
    keeldu kõigist | keeldu
    diúltaigh do gach | ċaħad kollox
    """
)

ACCEPT = _phrases(
    """
    accept all | accept all cookies | allow all | allow all cookies | agree to all | accept and continue
    alle akzeptieren | alle cookies akzeptieren | alle annehmen | alle zulassen | alle erlauben
    alles akzeptieren
    tout accepter | accepter tout | accepter et fermer | accepter et continuer | autoriser tous les cookies
    aceptar todo | aceptar todas | aceptar todas las cookies | permitir todas
    accetta tutto | accetta tutti | accetta tutti i cookie | consenti tutti
    alles accepteren | alle cookies accepteren | alle toestaan | alles toestaan
    aceitar tudo | aceitar todos | permitir todos
    zaakceptuj wszystkie | akceptuj wszystkie | zezwól na wszystkie
    acceptera alla | godkänn alla | tillåt alla | accepter alle | tillad alle
    hyväksy kaikki | salli kaikki | přijmout vše | přijmout všechny | povolit vše
    godta alle | aksepter alle | tillat alle | összes elfogadása | mindet elfogadom
    acceptă tot | acceptă toate | accept toate | αποδοχή όλων | prijať všetko | povoliť všetko
    sprejmi vse | prihvati sve | приемам всички | sutinku su visais | pieņemt visus | nõustun kõigiga
    accept | accept cookies | i accept | agree | i agree | agree and close | allow | allow cookies
    akzeptieren | annehmen | zustimmen | einverstanden | ich stimme zu | ich akzeptiere
    accepter | j'accepte | aceptar | acepto | accetta | accetto | accepteren | akkoord
    aceitar | aceito | concordo | akceptuję | zgadzam się | akceptuj | acceptera | godkänn
    hyväksy | přijmout | souhlasím | godta | elfogadom | sunt de acord | αποδοχή | súhlasím | prijať
    ok | okay | got it | understood
    """
)

# Words that make an "accept" label mean something narrower than everything.
_NOT_ACCEPT_ALL = re.compile(
    r"selection|selected|auswahl|sélection|selección|selezion|selectie|seleção|wybran|valda|valgte"
    r"|valitut|vybran|necessary|notwendig|essenziell|essential|nécessaire|necesari|necessar"
    r"|noodzakelijk|necessári|niezbędn|nödvändig|nødvendig|välttämättöm|nezbytn|required|erforderlich"
)

SAVE = _phrases(
    """
    save | save settings | save preferences | save choices | save my choices | save and close | save and exit
    confirm | confirm choices | confirm my choices | confirm selection | accept selected | accept selection
    allow selection | allow selected
    speichern | auswahl speichern | einstellungen speichern | auswahl bestätigen | auswahl erlauben
    auswahl akzeptieren | bestätigen
    enregistrer | enregistrer mes choix | enregistrer et fermer | valider | valider mes choix | confirmer
    guardar | guardar configuración | guardar preferencias | confirmar | confirmar selección
    salva | salva impostazioni | salva preferenze | conferma | conferma selezione
    opslaan | voorkeuren opslaan | bevestigen | selectie toestaan | salvar | salvar preferências
    zapisz | zapisz ustawienia | potwierdź | spara | spara inställningar | gem | gem indstillinger
    tallenna | tallenna asetukset | uložit | uložit nastavení | lagre | lagre innstillinger
    mentés | beállítások mentése | salvează | αποθήκευση | uložiť
    """
)

SETTINGS = _phrases(
    """
    settings | cookie settings | preferences | cookie preferences | manage | manage cookies
    manage preferences
    manage options | manage settings | customise | customize | customise settings | customize settings
    customise cookies | customize cookies | more options | options | let me choose | show details | details
    show purposes | configure | privacy settings
    einstellungen | cookie-einstellungen | anpassen | mehr optionen | individuelle einstellungen
    details anzeigen | verwalten | optionen verwalten | datenschutz-einstellungen
    paramètres | paramétrer | personnaliser | gérer | gérer mes choix | configurer | paramètres des cookies
    configuración | configurar | personalizar | gestionar | más opciones | configurar cookies
    impostazioni | personalizza | gestisci | gestisci opzioni | più opzioni | impostazioni cookie
    instellingen | aanpassen | beheren | voorkeuren | cookie-instellingen
    configurações | definições | gerir | gerenciar | definições de cookies
    ustawienia | dostosuj | zarządzaj | więcej opcji | ustawienia cookie
    inställningar | anpassa | hantera | indstillinger | tilpas | administrer
    asetukset | mukauta | evästeasetukset | nastavení | přizpůsobit | innstillinger | tilpass
    beállítások | testreszabás | setări | personalizează | ρυθμίσεις | nastavenia
    """
)

# Controls that bring the choices back after the banner is gone: cookie/privacy words, short.
REOPEN = _phrases(
    """
    cookie settings | cookie preferences | privacy settings | privacy choices | your privacy choices
    manage cookies | manage consent | consent settings | cookie consent | change consent | cookies
    change cookie settings | privacy preferences | update cookie preferences
    cookie-einstellungen | datenschutz-einstellungen | datenschutzeinstellungen | einwilligung ändern
    paramètres des cookies | gestion des cookies | gérer les cookies | préférences cookies
    configuración de cookies | preferencias de cookies | impostazioni cookie | preferenze cookie
    cookie-instellingen | definições de cookies | ustawienia cookie | cookie-inställningar
    cookie-indstillinger | evästeasetukset | nastavení cookies | informasjonskapsler
    """
)
_REOPEN_WORDS = re.compile(
    r"cookie|privacy|consent|datenschutz|einwilligung|confidentialité|consentement|privacidad"
    r"|consentimiento|consenso|privacidade|prywatno|integritet|samtycke|samtykke|tietosuoja|eväste"
    r"|soukromí|souhlas|personvern|adatvédelem|confidențialitate|απόρρητο"
)
# A link named like this leads to a text, not to the choices.
_POLICY_WORDS = re.compile(
    r"policy|richtlinie|erklärung|hinweis|politique|política|informativa|beleid|polityka|declaration"
    r"|notice|statement|learn more|more information|mehr erfahren|en savoir plus|read more"
)

_EDGES = re.compile(r"^\W+|\W+$")
_SPACES = re.compile(r"\s+")


def normalise(label: str) -> str:
    """Lower case, one space between words, no symbols at either end ("✕ Reject" → "reject")."""
    text = label.replace("’", "'").replace("\u200b", "").casefold()
    return _EDGES.sub("", _SPACES.sub(" ", text).strip())


def _rank(label: str, phrases: tuple[str, ...]) -> int | None:
    best: int | None = None
    for index, phrase in enumerate(phrases):
        if label == phrase:
            return index
        if best is not None:
            continue
        prefix = label.startswith(phrase + " ") and len(label[len(phrase) :].split()) <= 3
        suffix = label.endswith(" " + phrase) and len(label[: -len(phrase)].split()) <= 2
        if prefix or suffix:
            best = len(phrases) + index
    return best


def classify_label(label: str) -> tuple[ControlKind, int] | None:
    """The control kind a label names and its rank (lower is a better match), or None.

    >>> classify_label("Alle Cookies ablehnen")[0]
    'reject'
    >>> classify_label("Accept only necessary cookies")[0]
    'reject'
    """
    text = normalise(label)
    if not text or len(text) > 60:
        return None
    rank = _rank(text, REJECT)
    if rank is not None:
        return "reject", rank
    rank = _rank(text, SAVE)
    if rank is not None:
        return "save", rank
    rank = _rank(text, ACCEPT)
    if rank is not None and not _NOT_ACCEPT_ALL.search(text):
        return "accept", rank
    rank = _rank(text, SETTINGS)
    if rank is not None:
        return "settings", rank
    return None


def reopen_rank(label: str) -> int | None:
    """How well a label names a control that reopens the cookie choices; None if it does not."""
    text = normalise(label)
    if not text or len(text) > 40 or _POLICY_WORDS.search(text):
        return None
    kind = classify_label(text)
    if kind is not None and kind[0] in ("reject", "accept", "save"):
        return None
    rank = _rank(text, REOPEN)
    if rank is not None:
        return rank
    # A lone "Privacy" or "Datenschutz" is nearly always the link to the privacy policy.
    words = len(text.split())
    if _REOPEN_WORDS.search(text) and 2 <= words <= 4:
        return 10 * len(REOPEN)
    return None
