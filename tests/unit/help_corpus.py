"""Writes help_corpus.json: the fixed corpus the help search is measured on (test_help_search.c).

A web shop's help centre in English and Danish, written for the test: 36 + 30 articles, and
questions as visitors type them (typos, other words than the article's, Danish compounds), each
with the articles that answer it. Edit here, run `python3 help_corpus.py`, commit both files.
"""
import json
import os

EN = [
    ("track-order", "Track your order", "Orders", "Once your order has shipped you get an email with a **tracking number**. Open *My orders* and choose **Track** to follow the parcel with the carrier."),
    ("order-status", "What the order statuses mean", "Orders", "Received: we have your order. Packed: it is in a box. Shipped: the carrier has it. Delivered: the carrier says it arrived."),
    ("cancel-order", "Cancel an order", "Orders", "You can cancel an order until it is packed. Open *My orders*, choose the order and press **Cancel order**. The money is returned within 5 days."),
    ("change-order", "Change an order after placing it", "Orders", "To change the size, colour or address of an order that is not packed yet, cancel it and order again, or write to us in the chat."),
    ("missing-item", "An item is missing from my parcel", "Orders", "Check the packing slip: some items ship separately. If an item is still missing after 3 days, tell us the order number and we send it again."),
    ("wrong-item", "I received the wrong item", "Orders", "Sorry! Send us a photo of the item and the label in the chat. We send the right one at once and a free return label for the wrong one."),
    ("order-confirmation", "No order confirmation email", "Orders", "The confirmation is sent within minutes. Look in your spam folder. If it is not there, check the email address on your account."),
    ("shipping-times", "Delivery times", "Shipping", "Standard delivery takes 2-4 working days in Denmark and 3-6 days to the rest of the EU. Express delivery arrives the next working day if you order before 14:00."),
    ("shipping-cost", "Shipping costs", "Shipping", "Shipping is free on orders over 499 kr. Below that, standard shipping costs 39 kr and express 79 kr."),
    ("international-shipping", "Shipping outside the EU", "Shipping", "We ship to Norway, Switzerland and the UK. Customs duties and import VAT are paid by the receiver on delivery."),
    ("parcel-shop", "Pick up at a parcel shop", "Shipping", "Choose a parcel shop at checkout. You get a text message with a code when the parcel is ready; it is kept for 14 days."),
    ("delayed-delivery", "My delivery is late", "Shipping", "Carriers are sometimes delayed. If the tracking has not moved for 5 working days, contact us and we open an investigation with the carrier."),
    ("damaged-parcel", "The parcel arrived damaged", "Shipping", "Take photos of the box and the items before you throw anything away, and send them to us within 14 days. We replace or refund damaged goods."),
    ("return-policy", "Return policy", "Returns", "You have **30 days** to return items that are unused and in their original packaging. Sale items can be returned too."),
    ("how-to-return", "How to return an item", "Returns", "1. Open *My orders* and choose **Return**.\n2. Print the return label.\n3. Drop the parcel at any parcel shop."),
    ("refund-time", "When do I get my refund", "Returns", "We refund within 5 working days after the return reaches our warehouse. The money goes back to the card or account you paid with."),
    ("exchange", "Exchange for another size", "Returns", "We do not swap items directly. Return the item for a refund and place a new order for the size you want: that is the fastest way."),
    ("return-cost", "Is returning free", "Returns", "Returns within Denmark are free with our return label. From other countries the return shipping is paid by you."),
    ("payment-methods", "Payment methods", "Payment", "We take Visa, Mastercard, MobilePay, PayPal and invoice with Klarna. Gift cards can be combined with any of them."),
    ("payment-declined", "My payment was declined", "Payment", "Check the card number, the expiry date and that 3-D Secure is approved in your bank's app. Some banks block online payments abroad."),
    ("invoice-klarna", "Pay by invoice", "Payment", "With Klarna you pay within 30 days after shipping. Klarna checks your credit when you choose invoice at checkout."),
    ("vat-receipt", "Receipt and VAT invoice", "Payment", "A receipt with VAT is attached to the shipping email. Businesses can download an invoice with the VAT number in *My orders*."),
    ("charged-twice", "I was charged twice", "Payment", "A reservation can show twice for a few days. Only one amount is drawn when the order ships; the other is released by your bank."),
    ("gift-cards", "Gift cards", "Payment", "Gift cards are valid for 3 years and can be used online and in our shops. Enter the code at checkout under *Gift card*."),
    ("discount-code", "My discount code does not work", "Payment", "Codes cannot be combined, and some exclude sale items. Check the expiry date and that the code is typed without spaces."),
    ("create-account", "Create an account", "Account", "Choose *Sign up*, enter your email and a password. You can also order as a guest without an account."),
    ("reset-password", "Reset your password", "Account", "Choose *Forgot password* on the login page. We send a link that works for one hour. Check your spam folder if it does not arrive."),
    ("change-email", "Change the email address of your account", "Account", "Open *Account settings*, enter the new address and confirm it from the email we send to it."),
    ("delete-account", "Delete your account", "Account", "Write to us in the chat and we delete your account and personal data within 30 days, as the GDPR requires."),
    ("newsletter", "Unsubscribe from the newsletter", "Account", "Every newsletter has an *Unsubscribe* link at the bottom. You can also turn it off in *Account settings*."),
    ("size-guide", "Size guide", "Products", "Each product page has a size chart. Measure a garment that fits you well and compare it with the chart; between two sizes, choose the larger."),
    ("product-care", "Washing and care", "Products", "Follow the care label. Wool is washed at 30 degrees on the wool programme and dried flat; never tumble dry."),
    ("out-of-stock", "An item is sold out", "Products", "Press **Notify me** on the product page and we email you when it is back in stock. Popular sizes usually return within 3 weeks."),
    ("warranty", "Warranty and complaints", "Products", "You have a 2-year right to complain about defects. Send us photos of the defect and your order number, and we repair, replace or refund."),
    ("store-opening-hours", "Shop opening hours", "Shops", "Our shops are open Monday to Friday 10-18 and Saturday 10-16. Customer service in the chat answers every day 8-20."),
    ("click-and-collect", "Order online, pick up in a shop", "Shops", "Choose *Click & collect* at checkout and pick a shop. We text you when your order is ready, usually within 2 hours."),
]

DA = [
    ("spor-ordre", "Følg din ordre", "Ordrer", "Når din ordre er afsendt, får du en e-mail med et **trackingnummer**. Åbn *Mine ordrer* og vælg **Følg pakken** for at se, hvor pakken er."),
    ("annuller-ordre", "Annuller en ordre", "Ordrer", "Du kan annullere en ordre, indtil den er pakket. Åbn *Mine ordrer*, vælg ordren og tryk **Annuller**. Pengene bliver tilbageført inden for 5 dage."),
    ("aendre-ordre", "Ændre en ordre", "Ordrer", "Vil du ændre størrelse, farve eller adresse på en ordre, der ikke er pakket, så annuller den og bestil igen, eller skriv til os i chatten."),
    ("mangler-vare", "Der mangler en vare i pakken", "Ordrer", "Se følgesedlen: nogle varer sendes hver for sig. Mangler varen stadig efter 3 dage, så send os ordrenummeret, så sender vi den igen."),
    ("forkert-vare", "Jeg har fået en forkert vare", "Ordrer", "Undskyld! Send et billede af varen og etiketten i chatten. Vi sender den rigtige med det samme og en gratis returlabel til den forkerte."),
    ("ordrebekraeftelse", "Ingen ordrebekræftelse", "Ordrer", "Bekræftelsen sendes inden for få minutter. Kig i dit spamfilter. Er den der ikke, så tjek e-mailadressen på din konto."),
    ("leveringstid", "Leveringstid", "Levering", "Standardlevering tager 2-4 hverdage i Danmark. Ekspreslevering kommer næste hverdag, hvis du bestiller før kl. 14."),
    ("fragtpris", "Hvad koster fragt", "Levering", "Fri fragt ved køb over 499 kr. Derunder koster standardfragt 39 kr. og ekspres 79 kr."),
    ("pakkeshop", "Afhent i en pakkeshop", "Levering", "Vælg en pakkeshop ved betalingen. Du får en sms med en kode, når pakken er klar; den bliver liggende i 14 dage."),
    ("forsinket-levering", "Min pakke er forsinket", "Levering", "Fragtfirmaet kan blive forsinket. Har sporingen ikke rykket sig i 5 hverdage, så kontakt os, og vi undersøger det hos fragtfirmaet."),
    ("beskadiget-pakke", "Pakken er kommet beskadiget frem", "Levering", "Tag billeder af kassen og varerne, før du smider noget ud, og send dem inden for 14 dage. Vi erstatter eller refunderer."),
    ("udlandet", "Levering til udlandet", "Levering", "Vi sender til Norge, Sverige, Tyskland og resten af EU. Til lande uden for EU betaler modtageren told og moms."),
    ("returret", "Returret", "Retur", "Du har **30 dages returret** på ubrugte varer i original emballage. Udsalgsvarer kan også returneres."),
    ("returnere-vare", "Sådan returnerer du en vare", "Retur", "1. Åbn *Mine ordrer* og vælg **Retur**.\n2. Udskriv returlabelen.\n3. Aflever pakken i en pakkeshop."),
    ("refusion", "Hvornår får jeg mine penge tilbage", "Retur", "Vi refunderer inden for 5 hverdage, efter returpakken er nået frem til vores lager. Pengene går tilbage til det kort, du betalte med."),
    ("bytte", "Bytte til en anden størrelse", "Retur", "Vi bytter ikke direkte. Returner varen, og bestil den størrelse, du ønsker: det er den hurtigste vej."),
    ("gratis-retur", "Er retur gratis", "Retur", "Retur inden for Danmark er gratis med vores returlabel. Fra andre lande betaler du selv returfragten."),
    ("betalingsmetoder", "Betalingsmåder", "Betaling", "Vi tager imod Dankort, Visa, Mastercard, MobilePay og faktura med Klarna. Gavekort kan kombineres med dem alle."),
    ("betaling-afvist", "Min betaling blev afvist", "Betaling", "Tjek kortnummer og udløbsdato, og at du har godkendt betalingen i MitID eller bankens app. Nogle banker blokerer betalinger i udlandet."),
    ("faktura", "Betal med faktura", "Betaling", "Med Klarna betaler du inden for 30 dage efter afsendelse. Klarna laver et kredittjek, når du vælger faktura."),
    ("trukket-to-gange", "Beløbet er trukket to gange", "Betaling", "En reservation kan stå to gange i nogle dage. Kun ét beløb bliver trukket, når ordren sendes; det andet frigiver banken."),
    ("gavekort", "Gavekort", "Betaling", "Gavekort gælder i 3 år og kan bruges online og i vores butikker. Indtast koden ved betalingen under *Gavekort*."),
    ("rabatkode", "Min rabatkode virker ikke", "Betaling", "Rabatkoder kan ikke kombineres, og nogle gælder ikke på udsalg. Tjek udløbsdatoen, og at koden er skrevet uden mellemrum."),
    ("opret-konto", "Opret en konto", "Konto", "Vælg *Opret konto*, og indtast din e-mail og en adgangskode. Du kan også handle som gæst uden konto."),
    ("nulstil-adgangskode", "Nulstil din adgangskode", "Konto", "Vælg *Glemt adgangskode* på login-siden. Vi sender et link, der virker i en time. Kig i spamfilteret, hvis det ikke kommer."),
    ("slet-konto", "Slet din konto", "Konto", "Skriv til os i chatten, så sletter vi din konto og dine persondata inden for 30 dage efter GDPR."),
    ("nyhedsbrev", "Afmeld nyhedsbrevet", "Konto", "Nederst i hvert nyhedsbrev er et link til at afmelde. Du kan også slå det fra under *Kontoindstillinger*."),
    ("stoerrelsesguide", "Størrelsesguide", "Produkter", "Hver produktside har en størrelsestabel. Mål et tøjstykke, der passer dig, og sammenlign med tabellen; er du mellem to størrelser, så vælg den største."),
    ("udsolgt", "En vare er udsolgt", "Produkter", "Tryk **Giv besked** på produktsiden, så sender vi en e-mail, når varen er på lager igen."),
    ("reklamation", "Reklamation og garanti", "Produkter", "Du har 2 års reklamationsret på fejl og mangler. Send billeder af fejlen og dit ordrenummer, så reparerer, ombytter eller refunderer vi."),
]

QUESTIONS = [
    ("en", "where is my package", ["track-order", "delayed-delivery"]),
    ("en", "how can I track my order", ["track-order"]),
    ("en", "tracking number", ["track-order"]),
    ("en", "cancel my order", ["cancel-order"]),
    ("en", "i want to change the address on my order", ["change-order"]),
    ("en", "how do i return something", ["how-to-return", "return-policy"]),
    ("en", "how long do i have to return", ["return-policy"]),
    ("en", "when will i get my money back", ["refund-time"]),
    ("en", "refund", ["refund-time"]),
    ("en", "how much does shipping cost", ["shipping-cost"]),
    ("en", "free shipping", ["shipping-cost"]),
    ("en", "how long does delivery take", ["shipping-times"]),
    ("en", "my card was declined", ["payment-declined"]),
    ("en", "can i pay with paypal", ["payment-methods"]),
    ("en", "forgot my password", ["reset-password"]),
    ("en", "pasword reset", ["reset-password"]),
    ("en", "delete my account and data", ["delete-account"]),
    ("en", "parcel was broken when it arrived", ["damaged-parcel"]),
    ("en", "wrong size, can i exchange", ["exchange"]),
    ("en", "what size should i choose", ["size-guide"]),
    ("en", "discount code not working", ["discount-code"]),
    ("en", "charged two times", ["charged-twice"]),
    ("en", "do you ship to norway", ["international-shipping"]),
    ("en", "opening hours of the shop", ["store-opening-hours"]),
    ("en", "item sold out when back in stock", ["out-of-stock"]),
    ("en", "how do i wash wool", ["product-care"]),
    ("en", "the product is defective", ["warranty"]),
    ("en", "recieved wrong item", ["wrong-item"]),
    ("da", "hvor er min pakke", ["spor-ordre", "forsinket-levering"]),
    ("da", "annullere ordre", ["annuller-ordre"]),
    ("da", "hvordan returnerer jeg en vare", ["returnere-vare", "returret"]),
    ("da", "hvornår får jeg pengene tilbage", ["refusion"]),
    ("da", "hvad koster fragten", ["fragtpris"]),
    ("da", "leveringstid", ["leveringstid"]),
    ("da", "betalingen blev afvist", ["betaling-afvist"]),
    ("da", "kan jeg betale med mobilepay", ["betalingsmetoder"]),
    ("da", "glemt adgangskode", ["nulstil-adgangskode"]),
    ("da", "slette min konto", ["slet-konto"]),
    ("da", "pakken var ødelagt", ["beskadiget-pakke"]),
    ("da", "bytte størrelse", ["bytte"]),
    ("da", "rabatkoden virker ikke", ["rabatkode"]),
    ("da", "pengene er trukket to gange", ["trukket-to-gange"]),
    ("da", "er returneringen gratis", ["gratis-retur"]),
    ("da", "varen er udsolgt", ["udsolgt"]),
    ("da", "gavekortet", ["gavekort"]),
    ("da", "afmelde nyhedsbrev", ["nyhedsbrev"]),
    ("da", "returet", ["returret"]),
]

# Queries that no article answers: a suggestion must not be shown for them.
UNRELATED = [
    ("en", "what is the weather like in paris"),
    ("en", "jobs at your company"),
    ("da", "hvem vandt fodboldkampen i går"),
]

corpus = {
    "articles": [dict(id=i, title=t, category=c, body=b, lang="en", state="published") for i, t, c, b in EN] +
                [dict(id=i, title=t, category=c, body=b, lang="da", state="published") for i, t, c, b in DA],
    "questions": [dict(lang=l, query=q, expected=e) for l, q, e in QUESTIONS],
    "unrelated": [dict(lang=l, query=q) for l, q in UNRELATED],
}
here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "help_corpus.json"), "w", encoding="utf-8") as f:
    json.dump(corpus, f, ensure_ascii=False, indent=1)
    f.write("\n")
print(len(corpus["articles"]), "articles,", len(corpus["questions"]), "questions")
