"""The survey's page, `/survey/TOKEN`: the link a web-chat survey and its reminder carry
(`web.public.links`).

GET shows the case's question with the 1–5 choices and a comment box, and never rates
(a link previewer or a second look changes nothing). POST rates through the bot's own
survey logic (`bot.survey_page`): at or above the threshold the case is archived, below
it reopened and escalated, as a rating in the chat does; the page then says what
happens next. A survey already answered says so and takes no second rating. A link
that is tampered with or has expired gets a page that says so and what to do instead:
answer in the chat.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.survey_page import PageSurvey, SurveyState
from web.context import PublicSite, WebContext
from web.public.links import SURVEY, LinkSigner, SignedCase
from web.public.pages import address_throttle, csrf_ok, gettext, limited, render

COMMENT_LIMIT = 2000  # characters; a comment is a few lines, not a letter
SCORES = range(1, 6)


def survey_routes(
    context: WebContext, site: PublicSite, headers: list[Middleware]
) -> list[BaseRoute]:
    pages = SurveyPages(context, site)
    throttle = address_throttle(site)
    return [
        Route(
            "/survey/{token}",
            limited(context, throttle, pages.page),
            methods=["GET", "POST"],
            name="survey",
            middleware=headers,
        )
    ]


class SurveyPages:
    def __init__(self, context: WebContext, site: PublicSite) -> None:
        self.context = context
        self.signer = LinkSigner(site.secret_key, SURVEY)

    async def page(self, request: Request) -> Response:
        signed = self.signer.read(request.path_params["token"])
        if signed is None:
            return self._refused(request, expired=False)
        if signed.expired(self.context.clock.now()):
            return self._refused(request, expired=True)
        if request.method == "POST":
            return await self._rate(request, signed)
        shown = await self.context.bot.survey_page.show(signed.case_no)
        if shown is None:  # the case is gone (erased after its retention period)
            return self._refused(request, expired=False)
        if shown.state is SurveyState.OPEN:
            return self._form(request, signed.case_no)
        return self._outcome(request, shown)

    async def _rate(self, request: Request, signed: SignedCase) -> Response:
        _ = gettext(self.context, request)
        form = await request.form()
        score, comment = _score(form), str(form.get("comment") or "").strip()
        if not csrf_ok(request, form):
            error = _("The form had expired or did not come from this site; try again.")
            return self._form(request, signed.case_no, error, 403, score, comment)
        if score is None:
            error = _("Choose a rating from 1 to 5.")
            return self._form(request, signed.case_no, error, 422, score, comment)
        if len(comment) > COMMENT_LIMIT:
            error = _("The comment is too long: at most {limit} characters.").format(
                limit=COMMENT_LIMIT
            )
            return self._form(request, signed.case_no, error, 422, score, comment)
        rated = await self.context.bot.survey_page.rate(signed.case_no, score, comment)
        if rated is None:
            return self._refused(request, expired=False)
        return self._outcome(request, rated, commented=rated.rated_now and bool(comment))

    def _form(
        self,
        request: Request,
        case_no: str,
        error: str | None = None,
        status: int = 200,
        chosen: int | None = None,
        comment: str = "",
    ) -> Response:
        _ = gettext(self.context, request)
        labels = [
            _("1 very dissatisfied"),
            _("2 dissatisfied"),
            _("3 neutral"),
            _("4 satisfied"),
            _("5 very satisfied"),
        ]
        return render(
            self.context,
            request,
            "public/survey.html",
            status,
            question=_(
                "How satisfied are you with how we handled your complaint {case_no}?"
            ).format(case_no=case_no),
            choices=list(zip(SCORES, labels, strict=True)),
            chosen=chosen,
            comment=comment,
            comment_limit=COMMENT_LIMIT,
            hint=_(
                "Your rating and comment go to your case file. A rating below {threshold} "
                "reopens your complaint, and a supervisor follows it up."
            ).format(threshold=self.context.satisfied_threshold),
            error=error,
        )

    def _outcome(self, request: Request, shown: PageSurvey, commented: bool = False) -> Response:
        """What became of the survey: thanks and what happens next, a rating given
        before, or a survey that no longer waits for one."""
        _ = gettext(self.context, request)
        case_no, score = shown.case_no, shown.score
        chat = _("If there is more to tell us about your complaint, write to us in the chat.")
        if shown.state is SurveyState.CLOSED:
            title = _("This survey is closed")
            lines = [_("The survey of {case_no} no longer waits for an answer."), chat]
        elif not shown.rated_now:
            title = _("Thank you, already rated")
            lines = [_("Your rating of {case_no} is already recorded."), chat]
        elif shown.reopened:
            title = _("Thank you for telling us")
            lines = [
                _(
                    "We are sorry we did not do better. Your complaint {case_no} has been "
                    "reopened and a supervisor will follow it up."
                ),
                _("You will hear from us in the chat."),
            ]
        else:
            title = _("Thank you for your rating")
            lines = [
                _("Thank you for your rating ({score}/5)."),
                _("Your complaint {case_no} is now closed and archived."),
                chat,
            ]
        if commented:
            lines.insert(1, _("Thank you, your comment is on file."))
        return render(
            self.context,
            request,
            "public/survey_outcome.html",
            title=title,
            lines=[line.format(case_no=case_no, score=score) for line in lines],
        )

    def _refused(self, request: Request, expired: bool) -> Response:
        _ = gettext(self.context, request)
        title = _("This link has expired") if expired else _("This link is not valid")
        advice = _(
            "Please answer in the chat instead: send a digit from 1 (very dissatisfied) to "
            "5 (very satisfied), or write to us about your complaint."
        )
        return render(
            self.context,
            request,
            "public/survey_outcome.html",
            410 if expired else 404,
            title=title,
            lines=[advice],
        )


def _score(form: FormData) -> int | None:
    value = form.get("score")
    if isinstance(value, str) and value.isdigit() and int(value) in SCORES:
        return int(value)
    return None
