"""The patient copy's words: what each activity and goal means for the patient, and the copy's frame, in plain
language (short sentences, everyday words, every abbreviation explained), English first and then each other
language as a FHIR ``translation`` extension, so that a pack adds a language without code.

Written onto the resources by ``python -m app.engine.authoring``: ActivityDefinition and PlanDefinition.goal
extension ``patient-text``; the Library's ``patient-copy-<key>`` extensions hold the frame (headings, month names).
"""

from __future__ import annotations

from typing import Any

from app.engine.authoring import ext

TRANSLATION = "http://hl7.org/fhir/StructureDefinition/translation"

#: ActivityDefinition name -> (English, Spanish).
ACTIVITIES: dict[str, tuple[str, str]] = {
    "hba1c-test": ("A blood test of your average blood sugar over the last 3 months (the A1C test).",
                   "Un análisis de sangre de su azúcar promedio de los últimos 3 meses (la prueba A1C)."),
    "uacr-egfr-test": ("A urine test and a blood test to check how well your kidneys work.",
                       "Un análisis de orina y uno de sangre para ver cómo funcionan sus riñones."),
    "retinal-exam": ("An eye exam with drops that open your pupils, to check for damage from diabetes.",
                     "Un examen de los ojos con gotas que abren las pupilas, para buscar daño por la diabetes."),
    "foot-exam": ("A check of your feet: the skin, the pulses and the feeling in them.",
                  "Un examen de sus pies: la piel, el pulso y la sensibilidad."),
    "deintensification-review": ("A review of your diabetes medicines. Your blood sugar may be too low with them.",
                                 "Una revisión de sus medicinas para la diabetes. Su azúcar puede estar muy baja "
                                 "con ellas."),
    "ras-monitoring": ("A blood pressure check and a blood test a few weeks after a new kidney and blood pressure "
                       "medicine.",
                       "Un control de la presión y un análisis de sangre unas semanas después de una nueva medicina "
                       "para los riñones y la presión."),
    "metformin-review": ("A review of your metformin dose, because of how your kidneys work.",
                         "Una revisión de su dosis de metformina, por cómo funcionan sus riñones."),
    "obstetric-bp-care": ("A visit with your pregnancy care team about your blood pressure.",
                          "Una visita con su equipo de cuidado del embarazo por su presión arterial."),
    "dsmes": ("Classes and support to help you manage your diabetes day to day.",
              "Clases y apoyo para ayudarle a manejar su diabetes cada día."),
    "cardiorenal-agent": ("A talk about a diabetes medicine that also protects your heart and kidneys.",
                          "Una conversación sobre una medicina para la diabetes que también protege el corazón y "
                          "los riñones."),
    "bp-lifestyle": ("Steps to lower your blood pressure: eat less salt, eat more fruit and vegetables, move more, "
                     "and drink less alcohol.",
                     "Pasos para bajar su presión: coma menos sal, más frutas y verduras, muévase más y tome menos "
                     "alcohol."),
    "bp-out-of-office": ("Blood pressure readings at home or with a small monitor you wear for a day.",
                         "Medidas de la presión en casa o con un aparato pequeño que usa durante un día."),
    "bp-recheck": ("Another blood pressure check.", "Otro control de la presión arterial."),
    "severe-bp-evaluation": ("A check of your very high blood pressure today.",
                             "Un control hoy de su presión arterial muy alta."),
    "bp-indication-review": ("A talk about why you take your blood pressure medicine.",
                             "Una conversación sobre por qué toma su medicina para la presión."),
    "bp-medication": ("A medicine to lower your blood pressure.", "Una medicina para bajar su presión arterial."),
    "bp-treatment-review": ("A review of your blood pressure medicines, to reach your goal.",
                            "Una revisión de sus medicinas para la presión, para llegar a su meta."),
    "statin-high": ("A strong dose of a statin, a medicine that lowers cholesterol and protects your heart.",
                    "Una dosis alta de una estatina, una medicina que baja el colesterol y protege el corazón."),
    "statin-moderate": ("A medium dose of a statin, a medicine that lowers cholesterol and protects your heart.",
                        "Una dosis media de una estatina, una medicina que baja el colesterol y protege el "
                        "corazón."),
    "statin": ("A statin, a medicine that lowers cholesterol and protects your heart.",
               "Una estatina, una medicina que baja el colesterol y protege el corazón."),
    "statin-review": ("A review of your cholesterol medicine.", "Una revisión de su medicina para el colesterol."),
    "statin-intensify": ("A stronger dose of your cholesterol medicine, or a stronger one in its place.",
                         "Una dosis más fuerte de su medicina para el colesterol, o una más fuerte en su lugar."),
    "statin-intolerance-review": ("A talk about your muscle symptoms, what may cause them, and which cholesterol "
                                  "treatment is safe for you.",
                                  "Una conversación sobre sus síntomas musculares, qué puede causarlos y qué "
                                  "tratamiento para el colesterol es seguro para usted."),
    "goals-of-care-review": ("A talk with you and your family about which medicines still help you.",
                             "Una conversación con usted y su familia sobre qué medicinas todavía le ayudan."),
    "statin-discussion": ("A talk about your heart risk and if a cholesterol medicine is right for you.",
                          "Una conversación sobre su riesgo del corazón y si una medicina para el colesterol es "
                          "buena para usted."),
    "heart-healthy-lifestyle": ("Steps for a healthy heart: eat well, move more, and do not smoke.",
                                "Pasos para un corazón sano: coma bien, muévase más y no fume."),
    "ckd-confirm": ("Repeat urine and blood tests to check your kidneys again.",
                    "Repetir los análisis de orina y sangre para revisar otra vez sus riñones."),
    "ras-inhibitor": ("A medicine that protects your kidneys and lowers your blood pressure.",
                      "Una medicina que protege los riñones y baja la presión arterial."),
    "sglt2-inhibitor": ("A medicine that protects your kidneys and heart.",
                        "Una medicina que protege los riñones y el corazón."),
    "nephrology-referral": ("A visit with a kidney doctor.", "Una visita con un médico de los riñones."),
    "acute-kidney-evaluation": ("A blood test today, because your kidney tests changed fast.",
                                "Un análisis de sangre hoy, porque sus pruebas de los riñones cambiaron rápido."),
    "egfr-repeat": ("A repeat blood test of your kidneys.", "Repetir el análisis de sangre de los riñones."),
    "bmi-measurement": ("We will check your weight and height.", "Vamos a medir su peso y su estatura."),
    "underweight-assessment": ("A talk about your low weight and how to help.",
                               "Una conversación sobre su bajo peso y cómo ayudarle."),
    "weight-behavioral-intervention": ("A program to help you lose weight with healthy eating and activity.",
                                       "Un programa para ayudarle a bajar de peso con comida sana y actividad."),
    "tobacco-ask": ("We will ask if you smoke or use tobacco.", "Le vamos a preguntar si fuma o usa tabaco."),
    "tobacco-counselling": ("Help and support to quit smoking.", "Ayuda y apoyo para dejar de fumar."),
    "tobacco-pharmacotherapy": ("A medicine to help you quit smoking.", "Una medicina para ayudarle a dejar de fumar."),
    "depression-assessment": ("A talk about your mood and how to feel better.",
                              "Una conversación sobre su ánimo y cómo sentirse mejor."),
    "depression-screening": ("A few questions about your mood.", "Unas preguntas sobre su estado de ánimo."),
    # Children's activities: the copy of a patient under 18 is written to the parent or guardian.
    "adolescent-depression-screening": ("A few questions about your child's mood.",
                                        "Unas preguntas sobre el estado de ánimo de su hijo o hija."),
    "peds-bp-measurement": ("A blood pressure check for your child, with a cuff the right size for your child's arm.",
                            "Un control de la presión arterial de su hijo o hija, con un brazalete del tamaño de su "
                            "brazo."),
    "peds-bp-lifestyle": ("Tips for the whole family on healthy eating, activity and weight, and another blood "
                          "pressure check for your child.",
                          "Consejos para toda la familia sobre comida sana, actividad y peso, y otro control de la "
                          "presión de su hijo o hija."),
    "peds-bp-recheck": ("Another blood pressure check for your child.",
                        "Otro control de la presión arterial de su hijo o hija."),
    "peds-bp-referral": ("Another blood pressure check for your child, and a visit with a children's specialist.",
                         "Otro control de la presión de su hijo o hija y una visita con un especialista de niños."),
    "peds-bmi-measurement": ("We will measure your child's weight and height.",
                             "Vamos a medir el peso y la estatura de su hijo o hija."),
    "peds-weight-intervention": ("A program for your child and your family about healthy eating and activity.",
                                 "Un programa para su hijo o hija y su familia sobre comida sana y actividad."),
    "peds-lipid-screening": ("A blood test of your child's cholesterol.",
                             "Un análisis de sangre del colesterol de su hijo o hija."),
    "peds-anxiety-screening": ("A few questions for your child about worry and stress.",
                               "Unas preguntas para su hijo o hija sobre preocupaciones y estrés."),
    "peds-tobacco-prevention": ("A talk with your child about never starting to smoke or vape.",
                                "Una conversación con su hijo o hija para que nunca empiece a fumar ni a vapear."),
    "polyp-surveillance": ("A follow-up test of your colon, because of growths found before.",
                           "Un examen de control del colon, por los pólipos que encontraron antes."),
    "colorectal-screening": ("A test for colon cancer. You can choose a stool test at home or a colon exam.",
                             "Una prueba de cáncer de colon. Puede elegir una prueba de heces en casa o un examen "
                             "del colon."),
    "mammography": ("A breast X-ray to look for cancer early.",
                    "Una radiografía de los senos para buscar cáncer a tiempo."),
    "cervical-screening": ("A test for cervical cancer (a Pap test).",
                           "Una prueba de cáncer de cuello uterino (la prueba de Papanicolaou)."),
    "lung-ldct": ("A scan of your lungs to look for cancer early.",
                  "Una tomografía de los pulmones para buscar cáncer a tiempo."),
    "hcv-screening": ("A blood test for hepatitis C, a liver infection.",
                      "Un análisis de sangre para la hepatitis C, una infección del hígado."),
    "antiplatelet-alternative": ("A different blood thinner that works better for your body.",
                                 "Un anticoagulante diferente que funciona mejor en su cuerpo."),
    "statin-alternative": ("A different cholesterol medicine or dose that is safer for your body.",
                           "Otra medicina para el colesterol, o una dosis más segura para su cuerpo."),
}

#: PlanDefinition goal id -> (English, Spanish); ``{target}`` is the goal's target in words ("below 7 %").
GOALS: dict[str, tuple[str, str]] = {
    "t2d.hba1c-goal": ("Keep your average blood sugar (A1C test) {target}.",
                       "Mantener su azúcar promedio (prueba A1C) {target}."),
    "htn.bp-goal": ("Keep your blood pressure {target}.", "Mantener su presión arterial {target}."),
}

#: The copy's frame, key -> (English, Spanish).
FRAME: dict[str, tuple[str, str]] = {
    "title": ("Your care plan", "Su plan de cuidado"),
    "intro": ("This is the plan from your visit on {date}.", "Este es el plan de su visita del {date}."),
    "draft": ("This plan is not final yet. Your care team will check it.",
              "Este plan todavía no es final. Su equipo de cuidado lo va a revisar."),
    "goals": ("Your goals", "Sus metas"),
    "today": ("At this visit", "En esta visita"),
    "later": ("Next steps", "Próximos pasos"),
    "by": ("by {date}", "antes del {date}"),
    "on": ("Around {date}", "Cerca del {date}"),
    "nothing": ("Nothing new is planned for now.", "Por ahora no hay nada nuevo planeado."),
    "contact": ("Questions? Call your clinic and ask for your care team.",
                "¿Preguntas? Llame a su clínica y pida hablar con su equipo de cuidado."),
    "contact_named": ("Questions? Call your clinic and ask for {name}.",
                      "¿Preguntas? Llame a su clínica y pregunte por {name}."),
    "below": ("below {value}", "por debajo de {value}"),
    "at_most": ("at {value} or lower", "en {value} o menos"),
    "above": ("above {value}", "por encima de {value}"),
    "at_least": ("at {value} or higher", "en {value} o más"),
    "months": ("January February March April May June July August September October November December",
               "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"),
    "date": ("{month} {day}, {year}", "{day} de {month} de {year}"),
}


#: The frame of a copy written to a child's parent or guardian (the pediatric pack's Library): key -> (English,
#: Spanish); a key missing here is the patient's frame word.
GUARDIAN_FRAME: dict[str, tuple[str, str]] = {
    "title_guardian": ("Your child's care plan", "El plan de cuidado de su hijo o hija"),
    "intro_guardian": ("This is the plan from your child's visit on {date}. It is written for you, the parent or "
                       "guardian.",
                       "Este es el plan de la visita de su hijo o hija del {date}. Está escrito para usted, como "
                       "madre, padre o tutor."),
    "draft_guardian": ("This plan is not final yet. Your child's care team will check it.",
                       "Este plan todavía no es final. El equipo de cuidado de su hijo o hija lo va a revisar."),
    "goals_guardian": ("Your child's goals", "Las metas de su hijo o hija"),
    "contact_guardian": ("Questions? Call your child's clinic and ask for the care team.",
                         "¿Preguntas? Llame a la clínica de su hijo o hija y pida hablar con el equipo de cuidado."),
    "contact_named_guardian": ("Questions? Call your child's clinic and ask for {name}.",
                               "¿Preguntas? Llame a la clínica de su hijo o hija y pregunte por {name}."),
}


def with_guardian_frame(library: dict[str, Any]) -> dict[str, Any]:
    """The pediatric Library with the frame words of a copy written to the parent or guardian."""
    library.setdefault("extension", []).extend(translated(f"patient-copy-{key}", *texts)
                                               for key, texts in GUARDIAN_FRAME.items())
    return library


def translated(name: str, english: str, spanish: str) -> dict[str, Any]:
    """A carepath extension ``name``: ``text`` in English, then each other language as a FHIR ``translation``
    extension (``lang``, ``content``). The translation sits beside the text, not on ``_valueString``: FHIR R4
    validators here refuse extensions on an extension's value."""
    return {"url": ext(name)["url"], "extension": [
        {"url": "text", "valueString": english},
        {"url": TRANSLATION, "extension": [{"url": "lang", "valueCode": "es"},
                                           {"url": "content", "valueString": spanish}]}]}


def with_patient_texts(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource with its patient texts: an ActivityDefinition's, a PlanDefinition's goals', the Library's
    frame."""
    kind = resource.get("resourceType")
    if kind == "ActivityDefinition":
        name = resource["url"].rsplit("/", 1)[1]
        if name in ACTIVITIES:
            resource.setdefault("extension", []).append(translated("patient-text", *ACTIVITIES[name]))
    elif kind == "PlanDefinition":
        for goal in resource.get("goal", []):
            if goal.get("id") in GOALS:
                goal.setdefault("extension", []).append(translated("patient-text", *GOALS[goal["id"]]))
    elif kind == "Library":
        resource.setdefault("extension", []).extend(translated(f"patient-copy-{key}", *texts)
                                                    for key, texts in FRAME.items())
    return resource
